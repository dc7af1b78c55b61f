"""Training classifier heads: logistic regression on embeddings, held-out metrics, stored by :mod:`sqlml.models.heads`.

Engine-agnostic: SQL (``sqlml_train``), the CLI (``sqlml train``) and Python (``sqlml.train_classifier``)
all call :func:`train_classifier`.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sqlml import progress
from sqlml.config import Settings, check_count, check_model_argument
from sqlml.engine.runtime import AnyRuntime, private_runtime, runtime_for
from sqlml.errors import InvalidArgumentError, ModelLoadError
from sqlml.models import heads
from sqlml.models.encoder import Encoder
from sqlml.models.heads import Head
from sqlml.models.ref import fingerprint_directory
from sqlml.models.words import WordFeatures, head_inputs
from sqlml.ops.classify.calibration import fit_temperature, negative_log_likelihood
from sqlml.ops.classify.finetune import FineTuneOptions, fine_tune
from sqlml.ops.classify.long_text import text_vectors
from sqlml.ops.inputs import as_string_array
from sqlml.version import __version__

#: Held-out share of the labelled rows used to report accuracy and macro-F1 and to calibrate a head at training time.
DEFAULT_TEST_SIZE = 0.2
#: Inverse regularisation strength of the logistic regression (sklearn's ``C``); measured in docs/classify.md.
DEFAULT_C = 10.0
#: How a head is trained (see :func:`train_classifier`): chosen by measurement in docs/classify.md.
METHODS = ("lr", "finetune")
DEFAULT_METHOD = "lr"
#: What a head's logistic regression reads: the embedding, or the embedding beside TF-IDF word features
#: (:mod:`sqlml.models.words`); the defaults per method chosen by measurement in docs/classify.md.
FEATURES = ("embedding", "embedding+words")
DEFAULT_FEATURES = {"lr": "embedding+words", "finetune": "embedding"}
#: Folds of the cross-validation that calibrates a logistic-regression head too small for a held-out split.
CV_FOLDS = 5
#: How a head is made from its fit, part of the training digest: the same rows trained again after this changes
#: store a new version instead of returning one made by the earlier rule (``calibrated``: held-out temperature).
HEAD_RULE = "calibrated, cross-validated when small"
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
    method: str = DEFAULT_METHOD,
    features: str | None = None,
    steps: int | None = None,
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
    either is NULL are skipped. At least 2 distinct labels are needed. ``method`` (:data:`METHODS`):

    * ``'lr'``: logistic regression (``C=c``) on the frozen embeddings of ``embedding_model``;
    * ``'finetune'``: the encoder is first fine-tuned on the rows (:mod:`sqlml.ops.classify.finetune`, ``steps``
      optimiser steps, default :func:`~sqlml.ops.classify.finetune.default_steps`), then the logistic regression is
      fitted on its embeddings; the fine-tuned encoder is stored with the head and used by every call of it.

    ``features`` (:data:`FEATURES`, ``None``: the method's default, :data:`DEFAULT_FEATURES`): ``'embedding+words'``
    fits the regression over the embedding (the fine-tuned one with ``'finetune'``) beside TF-IDF word 1–2-grams of
    the training texts (:mod:`sqlml.models.words`; the vocabulary is stored with the head); ``'embedding'`` over
    the embedding alone.

    A stratified ``test_size`` share (seed ``seed``) is held out to measure accuracy and macro-F1 of the same
    method trained on the other rows and to calibrate the scores (:mod:`~sqlml.ops.classify.calibration`: the
    temperature that fits the held-out rows best divides the stored head's logits); the stored head is then
    trained on all rows. The split needs at least 2 rows per label and, at the default share, about 5 rows per
    label; without one there are no metrics, and an ``'lr'`` head with at least 2 rows per label is calibrated by
    cross-validation instead. ``test_size=0`` (half the time for ``'finetune'``) skips metrics and calibration.
    Deterministic for a given seed on CPU. Returns a :class:`TrainResult`; use the head as ``model=name`` (latest) or ``name@version``.

    Training ``name`` again stores a new version, except when the rows, settings and embedding model equal
    those of its latest version: that version is returned unchanged (the fit would be identical), so a
    query that evaluates the training call twice stores one version.
    """
    heads.check_name(name)
    text_array, label_array = as_string_array(texts, "texts"), as_string_array(labels, "labels")
    if len(text_array) != len(label_array):
        raise InvalidArgumentError(f"train_classifier: texts and labels differ in length ({len(text_array)} vs {len(label_array)})")
    if method not in METHODS:
        raise InvalidArgumentError(f"train_classifier: method must be one of {', '.join(map(repr, METHODS))} "
                                   f"(default {DEFAULT_METHOD!r}); got {method!r}")
    features = _check_features(features, method)
    if steps is not None:
        steps = check_count(steps, "train_classifier: steps must be a whole number >= 1", "leave it unset for the default")
        if method != "finetune":
            raise InvalidArgumentError("train_classifier: steps applies to method 'finetune' only; leave it unset or add method 'finetune'")
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
    settings = Settings.resolve(model=embedding_model, device=device, dtype=dtype, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
    runtime = runtime_for(settings)
    heads.store_folder(name)  # a sandboxed query learns it may not store before paying for the embeddings
    digest = training_digest(values, y.tolist(), c, test_size, seed, runtime.fingerprint, method, steps, features)
    latest = heads.versions(name)
    if latest:
        try:
            previous: Head | None = heads.load_cached(f"{name}@{latest[-1]}")
        except ModelLoadError:
            previous = None  # a damaged latest version: training again is the fix its error names
        if previous is not None and previous.meta.get("training", {}).get("data_sha256") == digest:
            return result_of(previous)  # same data, settings and model give the same head: no new version
    split = held_out_split(y, test_size, seed)
    held_out_note = f"stratified {test_size:.0%} held-out split, seed {seed}; stored head refitted on all rows"
    training = {"method": method, "features": features, "rows": len(keep), "skipped_null_rows": len(text_array) - len(keep), "c": c,
                "test_size": test_size, "seed": seed, "data_sha256": digest}
    described = {"name": runtime.model_name, "id": runtime.model_id, "fingerprint": runtime.fingerprint, "dimension": runtime.dimension}
    bars = progress.enabled(show_progress, False)
    with_words = features == "embedding+words"
    if method == "lr":
        with progress.progress_bar(len(values), "embed", bars) as bar:
            x = text_vectors(values, runtime)
            bar.update(len(values))

        def logits(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            return rows_logits(x, values, y, train, test, c, seed, with_words)

        metrics = held_out_metrics(y, split, logits, held_out_note)
        if isinstance(split, str) and test_size > 0:  # too few rows for a split: the fewest rows per label calibrate best
            metrics["calibration"] = cross_validated_calibration(y, logits, seed, split)
        coef, intercept, words = fit_head(x, values, y, c, seed, with_words)
        coef, intercept = calibrated(coef, intercept, metrics)
        meta = {"kind": "logistic-regression", "embedding_model": described}
        return result_of(heads.save(name, classes, coef, intercept, {**meta, **_common(training, metrics)}, words=words))
    options = FineTuneOptions(steps=steps, seed=seed)
    runs = [len(values)] if isinstance(split, str) else [len(split[0]), len(values)]
    with progress.progress_bar(sum(options.steps_for(n) for n in runs), "fine-tune", bars) as bar:
        def fine_tuned_predictions(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            rows = np.concatenate([train, test])
            texts = [values[i] for i in rows]
            with tuned_encoder(runtime, texts[: len(train)], y[train], classes, options, bar.update) as tuned, \
                    private_runtime(tuned, settings) as own:
                x = text_vectors(texts, own)
            return rows_logits(x, texts, y[rows], np.arange(len(train)), np.arange(len(train), len(rows)), c, seed, with_words)

        metrics = held_out_metrics(y, split, fine_tuned_predictions, held_out_note)
        started = time.perf_counter()
        with heads.staging(name) as staged, tuned_encoder(runtime, values, y, classes, options, bar.update) as tuned:
            tuned.model.save(str(staged / heads.ENCODER), create_model_card=False)
            fingerprint = fingerprint_directory(staged / heads.ENCODER)
            with private_runtime(tuned, settings) as own:
                x = text_vectors(values, own)
            coef, intercept, words = fit_head(x, values, y, c, seed, with_words)
            coef, intercept = calibrated(coef, intercept, metrics)
            training["fine_tune"] = {**options.as_dict(len(values)), "seconds": round(time.perf_counter() - started, 1)}
            meta = {
                "kind": "fine-tuned-encoder+logistic-regression",
                "embedding_model": {"name": f"{name} fine-tuned encoder", "id": f"fine-tuned from {runtime.model_id}",
                                    "fingerprint": fingerprint, "dimension": runtime.dimension},
                "encoder": {"folder": heads.ENCODER, "fingerprint": fingerprint},
                "base_model": described,
            }
            return result_of(heads.save(name, classes, coef, intercept, {**meta, **_common(training, metrics)}, encoder=staged / heads.ENCODER,
                                        words=words))


def _common(training: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The ``meta.json`` entries every kind of head has besides its kind and models."""
    return {
        "text_embedding": "sentence-chunk mean beyond the model window",
        "training": training,
        "metrics": metrics,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sqlml_version": __version__,
    }


def _check_features(features: str | None, method: str) -> str:
    """``features`` checked; ``None`` → the method's default."""
    if features is None:
        return DEFAULT_FEATURES[method]
    if features not in FEATURES:
        raise InvalidArgumentError(f"train_classifier: features must be one of {', '.join(map(repr, FEATURES))} "
                                   f"(default {DEFAULT_FEATURES['lr']!r} for method 'lr', {DEFAULT_FEATURES['finetune']!r} "
                                   f"for 'finetune'); got {features!r}")
    return features


def rows_logits(x: np.ndarray, texts: list[str], y: np.ndarray, train: np.ndarray, test: np.ndarray, c: float, seed: int,
                with_words: bool) -> np.ndarray:
    """``float64 (len(test), labels)``: the logits on rows ``test`` of a logistic regression fitted on rows ``train`` of
    embeddings ``x`` (and, ``with_words``, word features whose vocabulary comes from the ``train`` texts only)."""
    if not with_words:
        return lr_logits(x[train], y[train], x[test], c, seed)
    labels = tuple(sorted(set(y[train].tolist())))
    coef, intercept, words = fit_head(x[train], [texts[i] for i in train], y[train], c, seed, with_words)
    return Head("held-out", 0, labels, coef, intercept, {}, words=words).logits(x[test], [texts[i] for i in test])


def fit_head(x: np.ndarray, texts: list[str], y: np.ndarray, c: float, seed: int,
             with_words: bool) -> tuple[np.ndarray, np.ndarray, WordFeatures | None]:
    """``(coef, intercept, words)`` of a logistic regression over embeddings ``x`` of ``texts`` labelled ``y`` and,
    ``with_words``, over word features fitted on ``texts`` (``words``; else ``None``), as :func:`fit_logistic_regression`."""
    words = WordFeatures.fit(texts) if with_words else None
    return *fit_logistic_regression(head_inputs(x, words, texts), y, c, seed), words


def lr_logits(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, c: float, seed: int) -> np.ndarray:
    """``float64 (len(x_test), labels)``: the logits of a logistic regression fitted on ``x_train``/``y_train``, one
    column per label of ``y_train`` in sorted order."""
    labels = tuple(sorted(set(y_train.tolist())))
    return Head("held-out", 0, labels, *fit_logistic_regression(x_train, y_train, c, seed), {}).logits(x_test)


def held_out_metrics(y: np.ndarray, split: tuple[np.ndarray, np.ndarray] | str,
                     logits: Callable[[np.ndarray, np.ndarray], np.ndarray], note: str) -> dict[str, Any]:
    """Accuracy, macro-F1 and the calibrating temperature (:mod:`~sqlml.ops.classify.calibration`) of the head whose
    ``logits(train_rows, test_rows)`` score the held-out rows, as ``meta.json`` records them. Without a split the
    temperature is 1 (the scores as the head gives them)."""
    from sklearn.metrics import accuracy_score, f1_score

    if isinstance(split, str):
        return {"accuracy": None, "macro_f1": None, "held_out_rows": 0, "note": split,
                "calibration": {"temperature": 1.0, "note": f"not calibrated: {split}"}}
    train, test = split
    # the held-out head's columns: the labels of its train rows (a large test_size can leave a label none)
    seen = np.array(sorted(set(y[train].tolist())), dtype=object)
    scores = logits(train, test)
    predicted = seen[np.argmax(scores, axis=1)]
    known = np.isin(y[test], seen)  # rows of a label the held-out head never saw cannot score its likelihood
    if known.any():
        calibration = _calibration(scores[known], np.searchsorted(seen, y[test][known]),
                                   "the stored head's logits are divided by the temperature that minimises the held-out NLL"
                                   + ("" if known.all() else f" (over the {int(known.sum())} held-out rows of labels with train rows)"))
    else:
        calibration = {"temperature": 1.0, "note": "not calibrated: no held-out row has a label with train rows"}
    return {"accuracy": float(accuracy_score(y[test], predicted)), "macro_f1": float(f1_score(y[test], predicted, average="macro")),
            "held_out_rows": len(test), "note": note, "calibration": calibration}


def cross_validated_calibration(y: np.ndarray, logits_of: Callable[[np.ndarray, np.ndarray], np.ndarray], seed: int,
                                no_split: str) -> dict[str, Any]:
    """The calibrating temperature of a logistic-regression head too small for a held-out split (``no_split`` says
    why): every row scored by ``logits_of(train_rows, test_rows)``, the head fitted on the other folds of a stratified
    :data:`CV_FOLDS`-fold split (fewer folds when a label has fewer rows; each fold's head sees every label), then
    :func:`fit_temperature` over all rows. A label with one row leaves the head uncalibrated (temperature 1)."""
    from sklearn.model_selection import StratifiedKFold

    classes, counts = np.unique(y, return_counts=True)
    folds = int(min(counts.min(), CV_FOLDS))
    if folds < 2:
        return {"temperature": 1.0, "note": f"not calibrated: {no_split}"}
    logits = np.empty((len(y), len(classes)), dtype=np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        logits[test] = logits_of(train, test)
    return _calibration(logits, np.searchsorted(classes, y), f"no held-out split ({no_split}): temperature from {folds}-fold "
                        "cross-validated logits")


def _calibration(logits: np.ndarray, truth: np.ndarray, note: str) -> dict[str, Any]:
    """``meta.json``'s calibration record: the temperature fitted to ``logits`` (``(n, labels)``) of rows whose label
    columns are ``truth`` (``int (n,)``), and their NLL before and after."""
    temperature = fit_temperature(logits, truth)
    return {"temperature": temperature, "held_out_nll": round(negative_log_likelihood(logits, truth), 4),
            "held_out_nll_calibrated": round(negative_log_likelihood(logits, truth, temperature), 4), "note": note}


def calibrated(coef: np.ndarray, intercept: np.ndarray, metrics: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``coef`` and ``intercept`` divided by the held-out temperature in ``metrics``: ``softmax(x·(W/T)ᵀ + b/T)`` is
    ``softmax(logits / T)``, so the stored head needs no new field and earlier sqlml versions read it."""
    temperature = float(metrics["calibration"]["temperature"])
    return (coef / temperature).astype(np.float32), (intercept / temperature).astype(np.float32)


@contextmanager
def tuned_encoder(runtime: AnyRuntime, texts: list[str], y: np.ndarray, classes: list[str], options: FineTuneOptions,
                  on_step: Callable[[int], object]) -> Iterator[Encoder]:
    """A fresh copy of ``runtime``'s model fine-tuned on ``texts``/``y``, as an :class:`Encoder` (float32, not registered)."""
    from sqlml.models.encoder import load_sentence_transformer

    model = load_sentence_transformer(runtime.encoder.ref, runtime.device)  # type: ignore[attr-defined]
    code = {label: i for i, label in enumerate(classes)}
    fine_tune(model, texts, np.array([code[label] for label in y.tolist()]), len(classes), options, lambda: on_step(1))
    yield Encoder.wrap(runtime.encoder.ref, model, runtime.device, "float32")  # type: ignore[attr-defined]


def _is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (``int``, ``float`` or numpy's; never ``bool``)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def training_digest(texts: list[str], labels: list[str], c: float, test_size: float, seed: int, fingerprint: str,
                    method: str = DEFAULT_METHOD, steps: int | None = None, features: str = "embedding") -> str:
    """sha256 of the training rows, settings and embedding model: equal digests give equal heads."""
    import hashlib
    import json

    settings = [c, test_size, seed, fingerprint] + ([] if method == DEFAULT_METHOD else [method, steps]) + [HEAD_RULE] \
        + ([] if features == "embedding" else [features])
    digest = hashlib.sha256(json.dumps(settings).encode())
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
