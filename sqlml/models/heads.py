"""The store of trained classifier heads: versioned, safe to share (safetensors + JSON, never pickle).

Layout under :func:`sqlml.config.home_dir` (``SQLML_HOME``)::

    heads/<name>/v<k>/weights.safetensors   coef float32 (labels, dim [+ terms]), intercept float32 (labels,)
                                            [, idf float32 (terms,) for a head with word features]
    heads/<name>/v<k>/words.json            only for heads with word features: their vocabulary
                                            (:mod:`sqlml.models.words`), in column order after the embedding's
    heads/<name>/v<k>/meta.json             name, version, labels, embedding model, metrics, created_at, ...
    heads/<name>/v<k>/encoder/              only for fine-tuned heads: the fine-tuned sentence encoder
                                            (sentence-transformers folder, safetensors); meta.json records
                                            its fingerprint and the base model it was fine-tuned from

A head is referred to as ``'name'`` (latest version) or ``'name@k'``. Re-training a name writes
``v<k+1>``; older versions stay selectable. A version is written in a temporary folder beside its
final place and renamed into place, so a crash never leaves a half-written version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sqlml import config, paths
from sqlml.atomic import new_temp
from sqlml.errors import InvalidArgumentError, ModelLoadError, ModelNotFoundError
from sqlml.models.ref import fingerprint_directory
from sqlml.models.words import WordFeatures, recorded_words

WEIGHTS = "weights.safetensors"
META = "meta.json"
WORDS = "words.json"
ENCODER = "encoder"
FORMAT_VERSION = 1
# Used with fullmatch: "$" would also accept a trailing newline.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_VERSION_DIR = re.compile(r"v([1-9][0-9]*)")
# ASCII digits only (str.isdigit and int() also take '²' or '١'); 18 of them keep int() cheap and the number an int64.
_REF_VERSION = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Head:
    """A loaded head: ``probabilities(x) = softmax(x @ coef.T + intercept)`` over ``labels``.

    ``coef``: ``float32 (len(labels), dim + terms)``; ``intercept``: ``float32 (len(labels),)``. ``meta`` is the
    parsed ``meta.json`` (embedding model id/fingerprint/dimension, metrics, created_at, ...). ``encoder`` is
    the folder of a fine-tuned head's own encoder (its embeddings are the ones ``coef`` reads), else ``None``.
    ``words``: the head's word features (``x`` is then :func:`~sqlml.models.words.head_inputs` of the embeddings
    and the texts; ``terms`` = its vocabulary's size), else ``None`` (``terms`` = 0).
    """

    name: str
    version: int
    labels: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    meta: dict[str, Any]
    encoder: Path | None = None
    words: WordFeatures | None = None

    @property
    def ref(self) -> str:
        """``'name@version'``: the exact reference of this head."""
        return f"{self.name}@{self.version}"

    def logits(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """``float32 (n, dim)`` embeddings of ``texts`` (needed by a head with word features) → ``float64 (n,
        len(labels))``: ``x @ coef.T + intercept``."""
        if self.words is None:
            return embeddings.astype(np.float64) @ self.coef.T.astype(np.float64) + self.intercept.astype(np.float64)
        if texts is None or len(texts) != len(embeddings):
            raise ValueError(f"classifier {self.ref} reads word features: pass the texts of the embeddings")
        # the two blocks scored apart: a sparse copy of the dense embeddings (head_inputs) would cost more than the model
        dense, sparse = self._blocks
        return embeddings.astype(np.float64) @ dense + np.asarray(self.words.transform(texts) @ sparse) + self.intercept.astype(np.float64)

    @cached_property
    def _blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """A head with word features: ``float64`` contiguous ``(dim, labels)`` (scaled by the embedding weight) and
        ``(terms, labels)`` halves of ``coef.T``, made once per loaded head (each batch would otherwise copy ``coef``)."""
        assert self.words is not None
        coef = self.coef.astype(np.float64)
        dimension = coef.shape[1] - len(self.words.vocabulary)
        return (np.ascontiguousarray(self.words.embedding_weight * coef[:, :dimension].T),
                np.ascontiguousarray(coef[:, dimension:].T))

    def probabilities(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """``float32 (n, dim)`` embeddings (and their texts, see :meth:`logits`) → ``float64 (n, len(labels))`` rows summing to 1."""
        return softmax(self.logits(embeddings, texts))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a ``(n, k)`` array, numerically stable; rows sum to 1."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def heads_dir() -> Path:
    """``$SQLML_HOME/heads``: the folder that holds every trained head."""
    return config.home_dir() / "heads"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid head name, else raise :class:`InvalidArgumentError`."""
    return check_store_name(name, "classifier", "'topics' or 'support-intents'")


def check_store_name(name: object, what: str, example: str) -> str:
    """Return ``name`` if it may name a folder of sqlml's stores (heads, indexes), else raise :class:`InvalidArgumentError`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid {what} name {name!r}: use letters, digits, '_', '-' or '.', starting with a letter "
            f"or digit (at most 128 characters), e.g. {example}"
        )
    return name


def split_ref(ref: str) -> tuple[str, int | None]:
    """``'topics@3'`` → ``('topics', 3)``; ``'topics'`` → ``('topics', None)`` (latest)."""
    name, sep, version = ref.partition("@")
    check_name(name)
    if not sep:
        return name, None
    if not _REF_VERSION.fullmatch(version) or int(version) < 1:
        raise InvalidArgumentError(f"invalid version in {ref!r}: write 'name@N' with N a version number >= 1, e.g. '{name}@1'")
    return name, int(version)


def versions(name: str) -> list[int]:
    """The stored versions of ``name``, ascending (``[]`` if none)."""
    folder = heads_dir() / name
    if not folder.is_dir():
        return []
    found = (_VERSION_DIR.fullmatch(p.name) for p in folder.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def names() -> list[str]:
    """Every head name with at least one version, sorted."""
    root = heads_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_PATTERN.fullmatch(p.name) and versions(p.name))


def exists(ref: str) -> bool:
    """Whether ``ref`` (``name`` or ``name@k``) names a stored head; invalid names give ``False``."""
    try:
        name, version = split_ref(ref)
    except InvalidArgumentError:
        return False
    stored = versions(name)
    return bool(stored) if version is None else version in stored


def known_heads_text() -> str:
    """The stored heads with their versions, for error messages: ``'topics' (v1, v2), 'intents' (v1)``."""
    listed = [f"{n!r} (" + ", ".join(f"v{v}" for v in versions(n)) + ")" for n in names()]
    return ", ".join(listed) if listed else "none yet (train one with sqlml_train, `sqlml train` or sqlml.train_classifier)"


def version_dir(ref: str) -> tuple[str, int, Path]:
    """Resolve ``name`` or ``name@k`` to ``(name, k, folder)``; raise :class:`ModelNotFoundError` listing heads."""
    name, version = split_ref(ref)
    stored = versions(name)
    if not stored:
        raise ModelNotFoundError(
            f"classifier {name!r} not found in {str(heads_dir())!r}; known classifiers: {known_heads_text()}. "
            "Give labels for zero-shot classification, a trained classifier name, or a Hugging Face sequence-classifier directory"
        )
    if version is None:
        version = stored[-1]
    elif version not in stored:
        raise ModelNotFoundError(
            f"classifier {name!r} has no version {version}; its versions are "
            + ", ".join(f"{name}@{v}" for v in stored)
            + f" (plain {name!r} means the latest)"
        )
    return name, version, heads_dir() / name / f"v{version}"


def load(ref: str) -> Head:
    """Load a stored head by ``name`` or ``name@k``; raise :class:`ModelLoadError` for missing/corrupt files."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    name, version, folder = version_dir(ref)
    where = f"classifier {name}@{version} ({str(folder)!r})"
    fix = "re-train it (sqlml_train in SQL, `sqlml train` or sqlml.train_classifier), or delete the folder to drop this version"
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{where} is missing {META}; {fix}") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{where} has an unreadable {META} ({exc}); {fix}") from exc
    try:
        tensors = load_file(folder / WEIGHTS)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{where} is missing {WEIGHTS}; {fix}") from exc
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{where} has a corrupt {WEIGHTS} ({exc}); {fix}") from exc
    labels = meta.get("labels")
    words, problem = _load_words(folder, meta, tensors.get("idf"))
    problem = problem or head_problem(labels, tensors.get("coef"), tensors.get("intercept"), _dimension(meta), _terms(words)) \
        or encoder_problem(folder, meta)
    if problem is not None:
        raise ModelLoadError(f"{where} {problem}; {fix}")
    encoder = folder / ENCODER if "encoder" in meta else None
    return Head(name, version, tuple(labels), _as_float32(tensors["coef"]), _as_float32(tensors["intercept"]), meta, encoder, words)


def _load_words(folder: Path, meta: dict[str, Any], idf: np.ndarray | None) -> tuple[WordFeatures | None, str | None]:
    """``(word features, None)`` of the version in ``folder`` (``None`` when ``meta`` records none), or ``(None, problem)``:
    ``words.json`` must hold a list of distinct strings that, with the ``idf`` tensor, match ``meta``'s words record
    (:func:`sqlml.models.words.recorded_words`)."""
    if "words" not in meta:
        return None, None
    try:
        vocabulary = json.loads((folder / WORDS).read_text(encoding="utf-8")).get("vocabulary")
    except FileNotFoundError:
        return None, f"is missing {WORDS} (its word features' vocabulary)"
    except (OSError, ValueError, AttributeError) as exc:
        return None, f"has an unreadable {WORDS} ({exc})"
    if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary) or len(set(vocabulary)) != len(vocabulary):
        return None, f"has no valid vocabulary in {WORDS} (expected a list of distinct strings)"
    return recorded_words(meta["words"], vocabulary, idf)


def _terms(words: WordFeatures | None) -> int:
    return 0 if words is None else len(words.vocabulary)


def encoder_problem(folder: Path, meta: dict[str, Any]) -> str | None:
    """What makes a fine-tuned head's encoder unusable (``None``: nothing, or no encoder is recorded).

    The ``encoder/`` folder must exist and its files must hash to ``meta["encoder"]["fingerprint"]``
    (:func:`sqlml.models.ref.fingerprint_directory`): a changed or truncated encoder would give other embeddings
    than the head was fitted on.
    """
    if "encoder" not in meta:
        return None
    recorded = meta["encoder"].get("fingerprint") if isinstance(meta["encoder"], dict) else None
    if not isinstance(recorded, str):
        return f"has no valid encoder record in {META} (encoder: {meta['encoder']!r})"
    if not (folder / ENCODER).is_dir():
        return f"is missing its fine-tuned {ENCODER}/ folder"
    found = fingerprint_directory(folder / ENCODER)
    if found != recorded:
        return f"has an {ENCODER}/ folder whose files changed since training (fingerprint {found}, recorded {recorded})"
    return None


def head_problem(labels: Any, coef: np.ndarray | None, intercept: np.ndarray | None, dim: Any, terms: int = 0) -> str | None:
    """What makes a head unusable, as the end of a sentence about it (``None``: nothing).

    A usable head has ``labels`` a non-empty list of distinct non-empty strings, ``dim`` a positive int
    (the embedding dimension), ``coef`` of shape ``(len(labels), dim + terms)`` (``terms``: the word features'
    vocabulary size) and ``intercept`` of shape
    ``(len(labels),)``, both floating point and finite once cast to the ``float32`` a head computes in;
    ``None`` stands for a missing tensor.
    """
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        return f"has no valid labels ({labels!r}; expected a non-empty list of strings)"
    if "" in labels:
        return f"has an empty label (labels {labels!r})"
    duplicates = sorted(x for x, n in Counter(labels).items() if n > 1)
    if duplicates:
        return f"has duplicate labels {duplicates!r}"
    if type(dim) is not int or dim < 1:
        return f"has no valid embedding dimension (embedding_model.dimension: {dim!r})"
    expected = ((len(labels), dim + terms), (len(labels),))
    if coef is None or intercept is None or (coef.shape, intercept.shape) != expected:
        shapes = " and ".join(f"{n} missing" if t is None else f"{n} {t.shape}" for n, t in (("coef", coef), ("intercept", intercept)))
        return (f"has inconsistent files (labels, weight shapes and {META} disagree): {shapes}, "
                f"expected {expected[0]} and {expected[1]} for {len(labels)} labels of dimension {dim}"
                + (f" and {terms} word terms" if terms else ""))
    for tensor_name, tensor in (("coef", coef), ("intercept", intercept)):
        if not np.issubdtype(tensor.dtype, np.floating):
            return f"has {tensor_name} of dtype {tensor.dtype} (expected floating-point weights)"
    if not (np.isfinite(_as_float32(coef)).all() and np.isfinite(_as_float32(intercept)).all()):
        return "has non-finite weights (NaN or infinity in coef or intercept)"
    return None


def _as_float32(tensor: np.ndarray) -> np.ndarray:
    """``tensor`` as ``float32``; a finite float64 beyond float32's range becomes infinity (checked, not warned about)."""
    with np.errstate(over="ignore"):
        return tensor.astype(np.float32)


def _dimension(meta: dict[str, Any]) -> Any:
    """``meta["embedding_model"]["dimension"]``, or ``None`` where that is missing."""
    model = meta.get("embedding_model")
    return model.get("dimension") if isinstance(model, dict) else None


_cache: dict[tuple[str, int], Head] = {}
_cache_lock = threading.Lock()


def load_cached(ref: str) -> Head:
    """:func:`load`, cached per version folder and ``meta.json`` time (a version is immutable once written)."""
    _, _, folder = version_dir(ref)
    try:
        stamp = (folder / META).stat().st_mtime_ns
    except OSError:
        stamp = -1  # missing meta.json: load() reports it
    key = (str(folder), stamp)
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        found = load(ref)
        with _cache_lock:
            _cache[key] = found
    return found


def cached_folders() -> set[str]:
    """The version folders loaded by :func:`load_cached` so far (listings show them as loaded)."""
    with _cache_lock:
        return {folder for folder, _ in _cache}


def store_folder(name: str) -> Path:
    """The folder new versions of ``name`` go to, refused where the current query's DuckDB sandbox forbids writing it."""
    folder = heads_dir() / name
    paths.check_sandbox(folder, "classifier store folder", "train it outside the sandboxed database (sqlml train, sqlml.train_classifier)")
    return folder


def save(name: str, labels: list[str], coef: np.ndarray, intercept: np.ndarray, meta: dict[str, Any],
         encoder: Path | None = None, words: WordFeatures | None = None) -> Head:
    """Store a new version of ``name`` atomically and return it as loaded.

    ``coef``: ``(len(labels), dim + terms)``; ``intercept``: ``(len(labels),)``; ``dim`` is
    ``meta["embedding_model"]["dimension"]``, ``terms`` the size of ``words``' vocabulary (0 without). ``meta`` gets ``name``, ``version``, ``labels`` and
    ``format_version`` added. ``encoder``: a fine-tuned encoder folder made in :func:`staging` (moved into the
    version as ``encoder/``; ``meta["encoder"]["fingerprint"]`` must be its fingerprint). Concurrent writers
    each get their own version. ``words``: the head's word features (``coef``'s last columns read them; ``meta``
    gets a ``words`` record). A head :func:`load` would refuse (:func:`head_problem`) raises
    :class:`InvalidArgumentError` and writes nothing.
    """
    from safetensors.numpy import save

    check_name(name)
    problem = head_problem(list(labels), np.asarray(coef), np.asarray(intercept), _dimension(meta), _terms(words))
    if problem is not None:
        raise InvalidArgumentError(f"cannot save classifier {name!r}: it {problem}")
    folder = store_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = new_temp(folder, ".partial-", folder=True)  # mkdtemp would make it 0700 whatever the umask
    try:
        weights = {"coef": np.ascontiguousarray(coef, dtype=np.float32), "intercept": np.ascontiguousarray(intercept, dtype=np.float32)}
        if words is not None:
            weights["idf"] = np.ascontiguousarray(words.idf, dtype=np.float32)
            (tmp / WORDS).write_text(json.dumps({"vocabulary": list(words.vocabulary)}, ensure_ascii=False) + "\n", encoding="utf-8")
            meta = {**meta, "words": words.describe()}
        (tmp / WEIGHTS).write_bytes(save(weights))  # save_file would make it 0600 whatever the umask
        if encoder is not None:
            os.rename(encoder, tmp / ENCODER)  # staging() made it beside tmp, on the same file system
        while True:
            version = (versions(name) or [0])[-1] + 1
            record = {"format_version": FORMAT_VERSION, "name": name, "version": version, "labels": list(labels), **meta}
            (tmp / META).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            try:
                os.rename(tmp, folder / f"v{version}")  # atomic; fails if another writer took this version
                break
            except OSError:
                if not (folder / f"v{version}").exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load(f"{name}@{version}")


@contextmanager
def staging(name: str) -> Iterator[Path]:
    """A new empty folder inside ``name``'s store folder (refused where the query's sandbox forbids writing it), for
    files a version will own (a fine-tuned encoder); removed on leaving unless :func:`save` moved its contents away."""
    folder = store_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = new_temp(folder, ".partial-", folder=True)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def list_heads() -> list[dict[str, Any]]:
    """Every stored version's ``meta.json`` (plus ``path``), by name then version; unreadable ones get ``error``."""
    rows: list[dict[str, Any]] = []
    for name in names():
        for version in versions(name):
            folder = heads_dir() / name / f"v{version}"
            try:
                meta = json.loads((folder / META).read_text(encoding="utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                meta = {"name": name, "version": version, "error": f"unreadable {META}: {exc}"}
            rows.append({**meta, "name": name, "version": version, "path": str(folder)})
    return rows
