"""Training classifier heads: logistic regression on embeddings, held-out metrics, stored by :mod:`sqlml.models.heads`.

Engine-agnostic: SQL (``sqlml_train``), the CLI (``sqlml train``) and Python (``sqlml.train_classifier``)
all call :func:`train_classifier`.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sqlml import progress
from sqlml.config import Settings, check_count, check_model_argument
from sqlml.engine.runtime import runtime_for
from sqlml.errors import InvalidArgumentError
from sqlml.models import heads
from sqlml.models.heads import Head
from sqlml.ops.classify.long_text import text_vectors
from sqlml.ops.inputs import as_string_array
from sqlml.version import __version__

#: Held-out share of the labelled rows used to report accuracy and macro-F1 at training time.
DEFAULT_TEST_SIZE = 0.2
#: Inverse regularisation strength of the logistic regression (sklearn's ``C``); measured in docs/classify.md.
DEFAULT_C = 10.0
#: The largest seed: sklearn's random_state takes 32-bit seeds.
MAX_SEED = 2**32 - 1


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
    embedding_model: str | os.PathLike[str] | None = None,
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
    from sklearn.metrics import accuracy_score, f1_score

    heads.check_name(name)
    text_array, label_array = as_string_array(texts, "texts"), as_string_array(labels, "labels")
    if len(text_array) != len(label_array):
        raise InvalidArgumentError(f"train_classifier: texts and labels differ in length ({len(text_array)} vs {len(label_array)})")
    if not _is_real(test_size) or not 0 <= test_size < 1:
        raise InvalidArgumentError(f"train_classifier: test_size must be in [0, 1) (default {DEFAULT_TEST_SIZE}); got {test_size!r}")
    if not _is_real(c) or not c > 0:
        raise InvalidArgumentError(f"train_classifier: c must be > 0 (default {DEFAULT_C}); got {c!r}")
    seed = check_count(seed, f"train_classifier: seed must be a whole number from 0 to {MAX_SEED}", minimum=0, maximum=MAX_SEED)
    embedding_model = check_model_argument(embedding_model, "embedding_model", "train_classifier")
    keep = [i for i in range(len(text_array)) if text_array[i].is_valid and label_array[i].is_valid]
    values = [text_array[i].as_py() for i in keep]
    y = np.array([label_array[i].as_py() for i in keep], dtype=object)
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise InvalidArgumentError(
            f"train_classifier: need at least 2 distinct labels among the non-NULL rows, found {len(classes)} "
            f"({classes!r}) in {len(keep)} rows"
        )
    runtime = runtime_for(Settings.resolve(model=embedding_model, device=device, dtype=dtype, batch_size=batch_size, max_batch_tokens=max_batch_tokens))
    heads.store_folder(name)  # a sandboxed query learns it may not store before paying for the embeddings
    digest = training_digest(values, y.tolist(), c, test_size, seed, runtime.fingerprint)
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
    meta = {
        "kind": "logistic-regression",
        "embedding_model": {"name": runtime.model_name, "id": runtime.model_id,
                            "fingerprint": runtime.fingerprint, "dimension": runtime.dimension},
        "text_embedding": "sentence-chunk mean beyond the model window",
        "training": {"rows": len(keep), "skipped_null_rows": len(text_array) - len(keep), "c": c, "test_size": test_size,
                     "seed": seed, "data_sha256": digest},
        "metrics": {"accuracy": accuracy, "macro_f1": macro_f1, "held_out_rows": held_out, "note": note},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sqlml_version": __version__,
    }
    return result_of(heads.save(name, classes, coef, intercept, meta))


def _is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (``int``, ``float`` or numpy's; never ``bool``)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


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
