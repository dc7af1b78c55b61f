"""Classification: texts in, a label (or every label's probability) out. Engine-agnostic.

Three kinds of classifier share one output shape:

* **zero-shot** (``labels=[...]``): each label is put into a prompt template (default
  :data:`DEFAULT_TEMPLATE`), embedded once per label set (cached), and compared with the text's embedding;
  ``softmax(cosine / temperature)`` (default :data:`DEFAULT_TEMPERATURE`) gives probabilities summing to 1.
* **trained head** (``model='name'`` or ``'name@k'``): a logistic regression on the embeddings, trained
  with :func:`train_classifier` and stored by :mod:`sqlml.models.heads`.
* **Hugging Face sequence classifier** (``model='/path/to/dir'``): an ``AutoModelForSequenceClassification``
  folder; its ``id2label`` gives the labels; it runs batched through the runtime.

Texts are embedded with :func:`text_vectors`: a text longer than the model's window (256 tokens for the
default model) is split into sentence-aligned chunks that fit the window, and the chunk embeddings are
averaged, instead of being truncated (``docs/classify.md`` measures why).

NULL text → NULL label / NULL scores; row count and order are kept. Empty text is embedded like any
text (special tokens only) and gets the label closest to that, as ``embed('')`` does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from sqlml import progress
from sqlml.engine.runtime import Runtime, get_runtime
from sqlml.errors import InvalidArgumentError, ModelNotFoundError
from sqlml.models import heads
from sqlml.models.heads import Head, softmax
from sqlml.ops.embed import embed_strings
from sqlml.ops.inputs import as_string_array, valid_strings

#: The zero-shot prompt; ``{label}`` is replaced by each label (measured in docs/classify.md).
DEFAULT_TEMPLATE = "This text is about {label}."
#: Zero-shot probabilities are ``softmax(cosine / DEFAULT_TEMPERATURE)`` over the labels.
DEFAULT_TEMPERATURE = 0.05
#: Held-out share of the labelled rows used to report accuracy and macro-F1 at training time.
DEFAULT_TEST_SIZE = 0.2
#: Inverse regularisation strength of the logistic regression (sklearn's ``C``); measured in docs/classify.md.
DEFAULT_C = 10.0

SCORE_TYPE = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))
Output = Literal["list", "arrow", "polars"]


# --------------------------------------------------------------------------------------------------
# Text embedding with long-text chunking


def chunk_text(text: str, runtime: Runtime, budget: int) -> list[str]:
    """Split ``text`` into consecutive sentence groups of at most ``budget`` tokens each (with special
    tokens; a longer single sentence forms its own chunk and is truncated by the model)."""
    from sqlml.ops.sentences import split_sentences

    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return [text]
    lengths = [len(ids) - 2 for ids in runtime.encoder.tokenize([s.text for s in sentences])]  # minus [CLS]/[SEP]
    chunks: list[str] = []
    start, used = 0, 0
    for i, n in enumerate(lengths):
        if i > start and used + n > budget - 2:
            chunks.append(text[sentences[start].start : sentences[i - 1].end])
            start, used = i, 0
        used += n
    chunks.append(text[sentences[start].start : sentences[-1].end])
    return chunks


def text_vectors(values: list[str], runtime: Runtime) -> np.ndarray:
    """Embed non-null strings for classification: ``float32 (len(values), d)``, L2-normalised.

    Texts that fit the model window are embedded as they are; longer ones are embedded as the
    normalised mean of their sentence-aligned chunks. Every chunk of every text goes to one
    :func:`embed_strings` call, so the runtime batches them together.
    """
    budget = int(getattr(runtime.encoder, "max_seq_length", 256))
    # A token covers at least one UTF-8 byte, so only texts with more bytes than the window can overflow it;
    # tokenizing just those keeps the extra pass off short texts (if a tokenizer broke the rule, a text just
    # over the window would be truncated, as embed() does).
    maybe_long = [i for i, text in enumerate(values) if len(text.encode("utf-8")) > budget - 4]
    # the runtime's tokenizer truncates at the window, so a full-length row is the sign of a longer text
    long_rows = {i for i, ids in zip(maybe_long, runtime.encoder.tokenize([values[i] for i in maybe_long]), strict=True) if len(ids) >= budget}
    owners: list[int] = []
    pieces: list[str] = []
    for row, text in enumerate(values):
        chunks = chunk_text(text, runtime, budget) if row in long_rows else [text]
        pieces.extend(chunks)
        owners.extend([row] * len(chunks))
    vectors = embed_strings(pieces, runtime)
    if len(pieces) == len(values):
        return vectors
    summed = np.zeros((len(values), vectors.shape[1]), dtype=np.float32)
    np.add.at(summed, np.asarray(owners, dtype=np.int64), vectors)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return summed / np.maximum(norms, 1e-12)


# --------------------------------------------------------------------------------------------------
# Zero-shot


def check_labels(labels: Any, function: str = "classify") -> tuple[str, ...]:
    """Validate a zero-shot label list: non-empty, strings, no NULL, no duplicates. Returns it as a tuple."""
    if isinstance(labels, str):
        raise InvalidArgumentError(f"{function}: labels must be a list of strings, not one string; write [{labels!r}, ...]")
    items = list(labels)
    if not items:
        raise InvalidArgumentError(f"{function}: labels must be a non-empty list, e.g. ['sport', 'politics']")
    if any(x is None for x in items):
        raise InvalidArgumentError(f"{function}: labels must not contain NULL; got {items!r}")
    bad = next((x for x in items if not isinstance(x, str)), None)
    if bad is not None:
        raise InvalidArgumentError(f"{function}: labels must be strings; found {type(bad).__name__} {bad!r}")
    seen: set[str] = set()
    dups = [x for x in items if x in seen or seen.add(x)]  # type: ignore[func-returns-value]
    if dups:
        raise InvalidArgumentError(f"{function}: labels must be distinct; {sorted(set(dups))!r} appear more than once in {items!r}")
    return tuple(items)


def check_template(template: str | None, function: str = "classify") -> str:
    """The template to use (``None`` → :data:`DEFAULT_TEMPLATE`); it must contain ``{label}`` once."""
    if template is None:
        return DEFAULT_TEMPLATE
    if template.count("{label}") != 1:
        raise InvalidArgumentError(
            f"{function}: template must contain '{{label}}' exactly once, e.g. 'This article is about {{label}}.'; got {template!r}"
        )
    return template


def check_temperature(temperature: float | None, function: str = "classify") -> float:
    """The softmax temperature (``None`` → :data:`DEFAULT_TEMPERATURE`); must be > 0."""
    if temperature is None:
        return DEFAULT_TEMPERATURE
    if not temperature > 0:
        raise InvalidArgumentError(f"{function}: temperature must be > 0 (default {DEFAULT_TEMPERATURE}); got {temperature!r}")
    return float(temperature)


_label_cache: OrderedDict[tuple[int, str, tuple[str, ...]], np.ndarray] = OrderedDict()
_label_cache_lock = threading.Lock()
_LABEL_CACHE_SIZE = 256


def label_vectors(labels: tuple[str, ...], template: str, runtime: Runtime) -> np.ndarray:
    """``float32 (len(labels), d)``: the embedding of each label put into ``template``.

    Cached per (runtime, template, label tuple), so every 2048-row chunk of a query reuses them.
    """
    key = (id(runtime), template, labels)
    with _label_cache_lock:
        found = _label_cache.get(key)
        if found is not None:
            _label_cache.move_to_end(key)
            return found
    vectors = embed_strings([template.replace("{label}", label) for label in labels], runtime)
    with _label_cache_lock:
        _label_cache[key] = vectors
        while len(_label_cache) > _LABEL_CACHE_SIZE:
            _label_cache.popitem(last=False)
    return vectors


def zero_shot_probabilities(texts: np.ndarray, labels: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """``softmax(texts @ labels.T / temperature)``: ``(n, d)`` × ``(k, d)`` unit vectors → ``float64 (n, k)``."""
    return softmax(texts.astype(np.float64) @ labels.T.astype(np.float64) / temperature)


# --------------------------------------------------------------------------------------------------
# Trained heads and Hugging Face classifiers: resolving ``model``


@dataclass(frozen=True)
class HeadModel:
    """A stored head applied to the embeddings of ``runtime``."""

    head: Head
    runtime: Runtime

    @property
    def labels(self) -> tuple[str, ...]:
        return self.head.labels

    def probabilities(self, values: list[str]) -> np.ndarray:
        return self.head.probabilities(text_vectors(values, self.runtime))


@dataclass(frozen=True)
class SequenceClassifierModel:
    """A Hugging Face sequence classifier run by its own runtime (rows = label probabilities)."""

    runtime: Runtime

    @property
    def labels(self) -> tuple[str, ...]:
        return self.runtime.encoder.labels  # type: ignore[attr-defined, no-any-return]

    def probabilities(self, values: list[str]) -> np.ndarray:
        return embed_strings(values, self.runtime).astype(np.float64)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where models run: the embedding model name and runtime settings (``None`` → defaults)."""

    embedding_model: str | None = None
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_batch_tokens: int | None = None

    def embedding_runtime(self, model: str | None = None) -> Runtime:
        return get_runtime(model or self.embedding_model, self.device, self.dtype, self.batch_size, self.max_batch_tokens)


def check_head_matches(head: Head, runtime: Runtime) -> None:
    """Refuse a head trained on another embedding model than the one ``runtime`` runs."""
    trained = head.meta.get("embedding_model") or {}
    encoder = runtime.encoder
    if trained.get("fingerprint") != encoder.fingerprint or trained.get("dimension") != encoder.dimension:  # type: ignore[attr-defined]
        raise InvalidArgumentError(
            f"classifier {head.ref!r} was trained on embeddings of {trained.get('id')!r} ({trained.get('dimension')}-d) but "
            f"this call embeds with {encoder.ref.display_id!r} ({encoder.dimension}-d); use the model it was trained on "  # type: ignore[attr-defined]
            f"(embedding_model := {trained.get('name')!r} in SQL, embedding_model= in Python, --embedding-model in the CLI) "
            "or re-train the classifier on this model"
        )


def resolve_model(model: str, settings: RuntimeSettings) -> HeadModel | SequenceClassifierModel:
    """Turn ``model`` into a classifier: a stored head (``name``/``name@k``) or a sequence-classifier folder.

    Raises :class:`ModelNotFoundError` listing the stored heads when ``model`` is neither.
    """
    from pathlib import Path

    from sqlml.models.hf_classifier import get_classifier_runtime, is_sequence_classifier_dir

    path = Path(model).expanduser()
    if "@" not in model and not heads.exists(model) and path.is_dir():
        if not is_sequence_classifier_dir(path):
            raise InvalidArgumentError(
                f"{model!r} is not a sequence classifier (its config.json names no *ForSequenceClassification architecture). "
                "For zero-shot classification with an embedding model, pass labels and give the model as the embedding model"
            )
        return SequenceClassifierModel(
            get_classifier_runtime(str(path), settings.device, settings.dtype, settings.batch_size, settings.max_batch_tokens)
        )
    if "@" not in model and not heads.exists(model) and model.startswith(("/", ".", "~")):
        raise ModelNotFoundError(
            f"classifier directory {model!r} does not exist; check the path, or use a trained classifier: {heads.known_heads_text()}"
        )
    head = heads.load_cached(model)
    runtime = settings.embedding_runtime()
    check_head_matches(head, runtime)
    return HeadModel(head, runtime)


# --------------------------------------------------------------------------------------------------
# Arrow in, Arrow out


@dataclass
class Prediction:
    """Per-row results of one call: ``labels[i]`` and ``probs[i]`` (aligned, same order) or ``None`` for NULL rows."""

    labels: list[tuple[str, ...] | None] = field(default_factory=list)
    probs: list[np.ndarray | None] = field(default_factory=list)

    def label_array(self) -> pa.StringArray:
        """The most probable label per row (ties → the first label); NULL rows stay NULL."""
        return pa.array(
            [None if p is None else labels[int(np.argmax(p))] for labels, p in zip(self.labels, self.probs, strict=True)],  # type: ignore[index]
            type=pa.string(),
        )

    def score_array(self) -> pa.ListArray:
        """``LIST<STRUCT<label, score>>`` per row, every label, by descending score (ties keep label order)."""
        offsets = [0]
        names: list[str] = []
        scores: list[float] = []
        mask: list[bool] = []
        for labels, p in zip(self.labels, self.probs, strict=True):
            mask.append(p is None)
            if p is not None and labels is not None:
                order = np.argsort(-p, kind="stable")
                names.extend(labels[i] for i in order)
                scores.extend(p[order].tolist())
            offsets.append(len(names))
        values = pa.StructArray.from_arrays([pa.array(names, pa.string()), pa.array(scores, pa.float64())], names=["label", "score"])
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=SCORE_TYPE, mask=pa.array(mask, pa.bool_()))


def predict_zero_shot(
    texts: pa.StringArray,
    label_sets: Sequence[tuple[str, ...] | None],
    runtime: Runtime,
    template: str = DEFAULT_TEMPLATE,
    temperature: float = DEFAULT_TEMPERATURE,
) -> Prediction:
    """Zero-shot per row: ``label_sets[i]`` (already checked) are row i's labels; a NULL text or label set → NULL.

    All texts of the call are embedded together; each distinct label set is embedded once (cached).
    """
    rows = [i for i in range(len(texts)) if texts[i].is_valid and label_sets[i] is not None]
    vectors = text_vectors([texts[i].as_py() for i in rows], runtime) if rows else None
    out = Prediction([None] * len(texts), [None] * len(texts))
    groups: dict[tuple[str, ...], list[int]] = {}
    for pos, i in enumerate(rows):
        groups.setdefault(label_sets[i], []).append(pos)  # type: ignore[arg-type]
    for labels, positions in groups.items():
        probs = zero_shot_probabilities(vectors[positions], label_vectors(labels, template, runtime), temperature)  # type: ignore[index]
        for pos, p in zip(positions, probs, strict=True):
            out.labels[rows[pos]] = labels
            out.probs[rows[pos]] = p
    return out


def predict_model(texts: pa.StringArray, classifier: HeadModel | SequenceClassifierModel) -> Prediction:
    """Apply a trained head or sequence classifier to every non-null text; NULL text → NULL."""
    values, nulls = valid_strings(texts)
    probs = classifier.probabilities(values) if values else np.empty((0, len(classifier.labels)))
    out = Prediction([None] * len(texts), [None] * len(texts))
    valid = range(len(texts)) if nulls is None else [i for i, v in enumerate(nulls.to_pylist()) if not v]
    for i, p in zip(valid, probs, strict=True):
        out.labels[i] = classifier.labels
        out.probs[i] = p
    return out


# --------------------------------------------------------------------------------------------------
# Python API


def _run(
    texts: Any,
    labels: Sequence[str] | None,
    model: str | None,
    embedding_model: str | None,
    template: str | None,
    temperature: float | None,
    device: str | None,
    batch_size: int | None,
    show_progress: bool | None,
    function: str,
) -> Prediction:
    array = as_string_array(texts)
    settings = RuntimeSettings(embedding_model, device, None, batch_size)
    if labels is not None and model is not None:
        raise InvalidArgumentError(
            f"{function}: give labels (zero-shot) or model (a trained classifier or sequence-classifier folder), not both; "
            "to choose the embedding model of zero-shot classification use embedding_model="
        )
    if labels is None and model is None:
        raise InvalidArgumentError(
            f"{function}: give labels=[...] for zero-shot classification or model='name' for a trained classifier "
            f"(known: {heads.known_heads_text()}) or a sequence-classifier folder"
        )
    with progress.progress_bar(len(array), function, progress.enabled(show_progress, False)) as bar:
        if labels is not None:
            checked = check_labels(labels, function)
            result = predict_zero_shot(
                array, [checked] * len(array), settings.embedding_runtime(), check_template(template, function),
                check_temperature(temperature, function),
            )
        else:
            result = predict_model(array, resolve_model(model, settings))  # type: ignore[arg-type]
        bar.update(len(array))
    return result


def _convert(array: pa.Array, output: Output, name: str) -> Any:
    if output == "arrow":
        return array
    if output == "polars":
        import polars as pl

        return pl.Series(name, array)
    if output == "list":
        return array.to_pylist()
    raise InvalidArgumentError(f"output must be 'list', 'arrow' or 'polars', not {output!r}")


def classify(
    texts: Any,
    labels: Sequence[str] | None = None,
    model: str | None = None,
    *,
    embedding_model: str | None = None,
    template: str | None = None,
    temperature: float | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    output: Output = "list",
) -> Any:
    """The most probable label of each text.

    ``texts``: a list of ``str | None``, a pyarrow string array or a polars ``Series``. Give either
    ``labels`` (zero-shot: a non-empty list of distinct label names or descriptions, compared in
    embedding space through ``template``) or ``model`` (a trained classifier ``'name'``/``'name@k'``, or
    a Hugging Face sequence-classifier folder). ``embedding_model`` is the embedding model for zero-shot
    and trained heads (default: ``SQLML_MODEL`` or the embedded all-MiniLM-L6-v2).

    Returns ``list[str | None]`` (``output='list'``), a ``pa.StringArray`` or a polars ``Series``; NULL → NULL.
    """
    return _convert(
        _run(texts, labels, model, embedding_model, template, temperature, device, batch_size, show_progress, "classify").label_array(),
        output,
        "label",
    )


def classify_scores(
    texts: Any,
    labels: Sequence[str] | None = None,
    model: str | None = None,
    *,
    embedding_model: str | None = None,
    template: str | None = None,
    temperature: float | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    output: Output = "list",
) -> Any:
    """Every label's probability per text, by descending probability (arguments as :func:`classify`).

    Each row is ``[{'label': str, 'score': float}, ...]`` covering every label, scores summing to 1;
    ``row[0]['label']`` equals :func:`classify`'s answer. NULL text → ``None``.
    Returns a list of rows, a ``pa.ListArray`` of ``STRUCT<label, score>`` or a polars ``Series``.
    """
    return _convert(
        _run(texts, labels, model, embedding_model, template, temperature, device, batch_size, show_progress, "classify_scores").score_array(),
        output,
        "scores",
    )


# --------------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` stored: ``ref`` (``'name@version'``), labels, row counts and held-out metrics.

    ``accuracy``/``macro_f1`` are ``None`` when no held-out split was possible (see ``note``).
    """

    name: str
    version: int
    labels: tuple[str, ...]
    rows: int
    skipped: int
    held_out: int
    accuracy: float | None
    macro_f1: float | None
    note: str
    path: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "ref": self.ref, "labels": list(self.labels), "rows": self.rows,
                "skipped": self.skipped, "held_out": self.held_out, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "note": self.note, "path": self.path}

    def __str__(self) -> str:
        metrics = (
            f"held-out accuracy {self.accuracy:.4f}, macro-F1 {self.macro_f1:.4f} on {self.held_out} rows"
            if self.accuracy is not None and self.macro_f1 is not None
            else f"no held-out metrics ({self.note})"
        )
        return f"trained {self.ref}: {len(self.labels)} labels, {self.rows} rows ({self.skipped} skipped for NULL); {metrics}"


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit a multinomial logistic regression; return ``(coef (k, d), intercept (k,))`` for the sorted classes.

    Two classes: sklearn's single row ``w`` becomes ``[0, w]`` (and ``[0, b]``), whose softmax equals its sigmoid.
    """
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(x, y)
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    return coef.astype(np.float32), intercept.astype(np.float32)


def held_out_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray] | str:
    """Stratified train/held-out row indices, or the reason a split is not possible (as text)."""
    from sklearn.model_selection import train_test_split

    if test_size <= 0:
        return "test_size is 0"
    classes, counts = np.unique(y, return_counts=True)
    n_test = int(np.ceil(test_size * len(y)))
    if counts.min() < 2:
        return f"label {classes[int(np.argmin(counts))]!r} has only 1 row; stratified held-out split needs >= 2 per label"
    if n_test < len(classes) or len(y) - n_test < len(classes):
        return f"{len(y)} rows are too few for a {test_size:.0%} held-out split over {len(classes)} labels"
    train, test = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def train_classifier(
    name: str,
    texts: Any,
    labels: Any,
    *,
    embedding_model: str | None = None,
    c: float = DEFAULT_C,
    test_size: float = DEFAULT_TEST_SIZE,
    seed: int = 0,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    show_progress: bool | None = None,
) -> TrainResult:
    """Train a classifier head on ``texts`` labelled ``labels`` and store it as the next version of ``name``.

    ``texts``/``labels``: equal-length lists (or Arrow arrays / polars Series) of strings; rows where
    either is NULL are skipped. At least 2 distinct labels are needed. A stratified ``test_size`` share
    (seed ``seed``) is held out to measure accuracy and macro-F1; the stored head is then fitted on all
    rows. Logistic regression (``C=c``) on the texts' embeddings by ``embedding_model``. Deterministic for
    a given seed. Returns a :class:`TrainResult`; use the head as ``model=name`` (latest) or ``name@version``.

    Training ``name`` again stores a new version, except when the rows, settings and embedding model equal
    those of its latest version: that version is returned unchanged (the fit would be identical), so a
    query that evaluates the training call twice stores one version.
    """
    import sqlml
    from sklearn.metrics import accuracy_score, f1_score

    heads.check_name(name)
    text_array, label_array = as_string_array(texts, "texts"), as_string_array(labels, "labels")
    if len(text_array) != len(label_array):
        raise InvalidArgumentError(f"train_classifier: texts and labels differ in length ({len(text_array)} vs {len(label_array)})")
    if not 0 <= test_size < 1:
        raise InvalidArgumentError(f"train_classifier: test_size must be in [0, 1) (default {DEFAULT_TEST_SIZE}); got {test_size!r}")
    if not c > 0:
        raise InvalidArgumentError(f"train_classifier: c must be > 0 (default {DEFAULT_C}); got {c!r}")
    keep = [i for i in range(len(text_array)) if text_array[i].is_valid and label_array[i].is_valid]
    values = [text_array[i].as_py() for i in keep]
    y = np.array([label_array[i].as_py() for i in keep], dtype=object)
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise InvalidArgumentError(
            f"train_classifier: need at least 2 distinct labels among the non-NULL rows, found {len(classes)} "
            f"({classes!r}) in {len(keep)} rows"
        )
    runtime = RuntimeSettings(embedding_model, device, dtype, batch_size, max_batch_tokens).embedding_runtime()
    digest = training_digest(values, y.tolist(), c, test_size, seed, runtime.encoder.fingerprint)  # type: ignore[attr-defined]
    latest = heads.versions(name)
    if latest:
        previous = heads.load_cached(f"{name}@{latest[-1]}")
        if previous.meta.get("training", {}).get("data_sha256") == digest:
            return result_of(previous)  # same data, settings and model give the same head: no new version
    with progress.progress_bar(len(values), "embed", progress.enabled(show_progress, False)) as bar:
        x = text_vectors(values, runtime)
        bar.update(len(values))
    split = held_out_split(y, test_size, seed)
    accuracy = macro_f1 = None
    held_out, note = 0, ""
    if isinstance(split, str):
        note = split
    else:
        train, test = split
        coef, intercept = fit_logistic_regression(x[train], y[train], c, seed)
        head = Head(name, 0, tuple(classes), coef, intercept, {})
        predicted = np.array(classes, dtype=object)[np.argmax(head.probabilities(x[test]), axis=1)]
        accuracy = float(accuracy_score(y[test], predicted))
        macro_f1 = float(f1_score(y[test], predicted, average="macro"))
        held_out = len(test)
        note = f"stratified {test_size:.0%} held-out split, seed {seed}; stored head refitted on all rows"
    coef, intercept = fit_logistic_regression(x, y, c, seed)
    encoder = runtime.encoder
    meta = {
        "kind": "logistic-regression",
        "embedding_model": {"name": encoder.ref.name, "id": encoder.ref.display_id,  # type: ignore[attr-defined]
                            "fingerprint": encoder.fingerprint, "dimension": encoder.dimension},  # type: ignore[attr-defined]
        "text_embedding": "sentence-chunk mean beyond the model window",
        "training": {"rows": len(keep), "skipped_null_rows": len(text_array) - len(keep), "c": c, "test_size": test_size,
                     "seed": seed, "data_sha256": digest},
        "metrics": {"accuracy": accuracy, "macro_f1": macro_f1, "held_out_rows": held_out, "note": note},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sqlml_version": sqlml.__version__,
    }
    return result_of(heads.save(name, classes, coef, intercept, meta))


def training_digest(texts: list[str], labels: list[str], c: float, test_size: float, seed: int, fingerprint: str) -> str:
    """sha256 of the training rows, settings and embedding model: equal digests give equal heads."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps([c, test_size, seed, fingerprint]).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(json.dumps([text, label]).encode())
    return digest.hexdigest()


def result_of(head: Head) -> TrainResult:
    """The :class:`TrainResult` describing a stored head (from its ``meta.json``)."""
    training, metrics = head.meta.get("training", {}), head.meta.get("metrics", {})
    return TrainResult(
        head.name, head.version, head.labels, int(training.get("rows", 0)), int(training.get("skipped_null_rows", 0)),
        int(metrics.get("held_out_rows", 0)), metrics.get("accuracy"), metrics.get("macro_f1"), str(metrics.get("note", "")),
        str(heads.heads_dir() / head.name / f"v{head.version}"),
    )
