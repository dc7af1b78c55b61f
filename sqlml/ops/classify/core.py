"""Classification: texts in, a label (or every label's probability) out. Engine-agnostic.

Three kinds of classifier share one output shape:

* **zero-shot** (``labels=[...]``): each label is put into a prompt template (default
  :data:`DEFAULT_TEMPLATE`), embedded once per label set (cached), and compared with the text's embedding;
  ``softmax(cosine / temperature)`` (default :data:`DEFAULT_TEMPERATURE`) gives probabilities summing to 1.
* **trained head** (``model='name'`` or ``'name@k'``): a logistic regression on the embeddings, trained
  with :func:`sqlml.ops.classify.train.train_classifier` and stored by :mod:`sqlml.models.heads`.
* **Hugging Face sequence classifier** (``model='/path/to/dir'``): an ``AutoModelForSequenceClassification``
  folder; its ``id2label`` gives the labels; it runs batched through the runtime.

Texts are embedded with :func:`sqlml.ops.classify.long_text.text_vectors`: a text longer than the model's window
(256 tokens for the default model) is embedded as the mean of its sentence chunks instead of being truncated.

NULL text → NULL label / NULL scores; row count and order are kept. Empty text is embedded like any
text (special tokens only) and gets the label closest to that, as ``embed('')`` does.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sqlml import progress
from sqlml.config import Settings, check_model_argument
from sqlml.engine.classifiers import classifier_runtime_for
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import InvalidArgumentError
from sqlml.models import heads, registry
from sqlml.models.heads import Head, softmax
from sqlml.models.ref import fingerprint_directory
from sqlml.ops.classify.long_text import text_vectors
from sqlml.ops.classify.refine import REFINE_TEMPERATURE, REFINE_TEMPLATE, refine_label_vectors
from sqlml.ops.embed import embed_strings
from sqlml.ops.inputs import valid_strings

#: The zero-shot prompt; ``{label}`` is replaced by each label (measured in docs/classify.md).
DEFAULT_TEMPLATE = "This text is about {label}."
#: Zero-shot probabilities are ``softmax(cosine / DEFAULT_TEMPERATURE)`` over the labels.
DEFAULT_TEMPERATURE = 0.05

SCORE_TYPE = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))


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
    if any(not x.strip() for x in items):
        raise InvalidArgumentError(f"{function}: labels must not be empty or blank; got {items!r}")
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


def check_temperature(temperature: float | None, function: str = "classify", default: float = DEFAULT_TEMPERATURE) -> float:
    """The softmax temperature (``None`` → ``default``); must be > 0."""
    if temperature is None:
        return default
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise InvalidArgumentError(f"{function}: temperature must be > 0 (default {default}); got {temperature!r}")
    return float(temperature)


_label_cache: OrderedDict[tuple[int, str, tuple[str, ...]], np.ndarray] = OrderedDict()
_label_cache_lock = threading.Lock()
_LABEL_CACHE_SIZE = 256


def label_vectors(labels: tuple[str, ...], template: str, runtime: AnyRuntime) -> np.ndarray:
    """``float32 (len(labels), d)``: the embedding of each label put into ``template``.

    Cached per (runtime, template, label tuple), so every 2048-row chunk of a query reuses them.
    """
    return label_vectors_of([labels], template, runtime)[labels]


def label_vectors_of(label_sets: Sequence[tuple[str, ...]], template: str, runtime: AnyRuntime) -> dict[tuple[str, ...], np.ndarray]:
    """:func:`label_vectors` of every label set: the sets not cached are embedded in one runtime request (a table
    whose rows carry their own label lists has as many sets as rows, and a request per set waits a round each)."""
    def key(labels: tuple[str, ...]) -> tuple[int, str, tuple[str, ...]]:
        return id(runtime), template, labels

    found: dict[tuple[str, ...], np.ndarray] = {}
    with _label_cache_lock:
        for labels in label_sets:
            vectors = _label_cache.get(key(labels))
            if vectors is not None:
                _label_cache.move_to_end(key(labels))
                found[labels] = vectors
    missing = list(dict.fromkeys(labels for labels in label_sets if labels not in found))
    if not missing:
        return found
    prompts = [template.replace("{label}", label) for labels in missing for label in labels]
    vectors = embed_strings(prompts, runtime)
    bounds = np.cumsum([0, *(len(labels) for labels in missing)])
    with _label_cache_lock:
        for labels, start, stop in zip(missing, bounds[:-1], bounds[1:], strict=True):
            found[labels] = vectors[start:stop]
            _label_cache[key(labels)] = found[labels]
        while len(_label_cache) > _LABEL_CACHE_SIZE:
            _label_cache.popitem(last=False)
    return found


def zero_shot_probabilities(texts: np.ndarray, labels: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """``softmax(texts @ labels.T / temperature)``: ``(n, d)`` × ``(k, d)`` unit vectors → ``float64 (n, k)``."""
    return softmax(texts.astype(np.float64) @ labels.T.astype(np.float64) / temperature)


# --------------------------------------------------------------------------------------------------
# Trained heads and Hugging Face classifiers: resolving ``model``


@dataclass(frozen=True)
class HeadModel:
    """A stored head applied to the embeddings of ``runtime``."""

    head: Head
    runtime: AnyRuntime

    @property
    def labels(self) -> tuple[str, ...]:
        return self.head.labels

    def probabilities(self, values: list[str]) -> np.ndarray:
        return self.head.probabilities(text_vectors(values, self.runtime), values)


@dataclass(frozen=True)
class SequenceClassifierModel:
    """A Hugging Face sequence classifier run by its own runtime (rows = label probabilities)."""

    runtime: AnyRuntime

    @property
    def labels(self) -> tuple[str, ...]:
        return self.runtime.labels  # type: ignore[attr-defined, no-any-return]

    def probabilities(self, values: list[str]) -> np.ndarray:
        return embed_strings(values, self.runtime).astype(np.float64)


def check_head_matches(head: Head, runtime: AnyRuntime) -> None:
    """Refuse a head trained on another embedding model than the one ``runtime`` runs."""
    trained = head.meta.get("embedding_model") or {}
    if trained.get("fingerprint") != runtime.fingerprint or trained.get("dimension") != runtime.dimension:
        raise InvalidArgumentError(
            f"classifier {head.ref!r} was trained on embeddings of {trained.get('id')!r} ({trained.get('dimension')}-d) but "
            f"this call embeds with {runtime.model_id!r} ({runtime.dimension}-d); use the model it was trained on "
            f"(embedding_model := {trained.get('name')!r} in SQL, embedding_model= in Python, --embedding-model in the CLI) "
            "or re-train the classifier on this model"
        )


def resolve_model(model: str, settings: Settings, embedding_model: str | None = None) -> HeadModel | SequenceClassifierModel:
    """Turn ``model`` into a classifier: a stored head (``name``/``name@k``) or a sequence-classifier folder.

    Raises :class:`ModelNotFoundError` listing the stored heads when ``model`` is neither; a folder passes the
    path policy (:mod:`sqlml.paths`) before anything reads it.
    """
    from sqlml.models.hf_classifier import classifier_folder

    if "@" not in model and not heads.exists(model):
        folder = classifier_folder(model, f"use a trained classifier: {heads.known_heads_text()}")
        if folder is not None:
            return SequenceClassifierModel(classifier_runtime_for(settings, str(folder)))
    head = heads.load_cached(model)
    if head.encoder is not None:
        return HeadModel(head, runtime_for(settings, fine_tuned_encoder(head, embedding_model or settings.model)))
    runtime = runtime_for(settings, embedding_model)
    check_head_matches(head, runtime)
    return HeadModel(head, runtime)


def fine_tuned_encoder(head: Head, embedding_model: str) -> str:
    """The model name of ``head``'s own fine-tuned encoder (registered unlisted on first use).

    A fine-tuned head embeds with its encoder, which is only valid where the call's ``embedding_model`` is the
    base model it was fine-tuned from (same files), as a head on frozen embeddings must match its model; another
    model is refused.
    """
    base = head.meta.get("base_model") or {}
    if _fingerprint(registry.resolve(embedding_model).location) != base.get("fingerprint"):
        raise InvalidArgumentError(
            f"classifier {head.ref!r} was fine-tuned from {base.get('id')!r} and embeds with its own fine-tuned copy of it, "
            f"but this call's embedding model is {embedding_model!r}; use the base model (embedding_model := {base.get('name')!r} "
            "in SQL, embedding_model= in Python, --embedding-model in the CLI) or re-train the classifier on this model"
        )
    name = f"{head.ref} fine-tuned encoder"
    registry.register_alias(name, head.encoder, listed=False)  # type: ignore[arg-type]
    return name


@lru_cache(maxsize=64)
def _fingerprint(location: str) -> str:
    """:func:`fingerprint_directory` of a model folder, once per process (as :attr:`Encoder.fingerprint` is)."""
    return fingerprint_directory(Path(location))


# --------------------------------------------------------------------------------------------------
# Arrow in, Arrow out


@dataclass(frozen=True)
class PredictionGroup:
    """Rows of one call that share a label set: ``rows`` ``int64 (r,)`` (positions in the call) and ``probs``
    ``float64 (r, len(labels))`` (each row's probability of each label, in label order)."""

    labels: tuple[str, ...]
    rows: np.ndarray
    probs: np.ndarray


@dataclass
class Prediction:
    """Per-row results of one call of ``size`` rows, as groups of rows sharing a label set; a row in no group
    (a NULL text or label set) is NULL in every output. The outputs are built with array operations: a Python
    loop per row would hold the GIL that DuckDB's other threads need while the model runs."""

    size: int
    groups: list[PredictionGroup] = field(default_factory=list)

    def label_array(self) -> pa.StringArray:
        """The most probable label per row (ties → the first label); NULL rows stay NULL."""
        names = np.full(self.size, None, dtype=object)
        for group in self.groups:
            names[group.rows] = np.asarray(group.labels, dtype=object)[group.probs.argmax(axis=1)]
        return pa.array(names, type=pa.string())

    def top(self) -> tuple[pa.StringArray, pa.DoubleArray]:
        """``(label, probability)`` of the most probable label per row (ties → the first label); NULL rows stay NULL.
        One pair per row, not every label's: what a whole table's answer needs."""
        scores = np.full(self.size, np.nan)
        for group in self.groups:
            scores[group.rows] = group.probs.max(axis=1)
        return self.label_array(), pa.array(scores, type=pa.float64(), from_pandas=True)

    def score_array(self) -> pa.ListArray:
        """``LIST<STRUCT<label, score>>`` per row, every label, by descending score (ties keep label order)."""
        lengths = np.zeros(self.size, dtype=np.int64)
        null = np.ones(self.size, dtype=bool)
        for group in self.groups:
            lengths[group.rows] = len(group.labels)
            null[group.rows] = False
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        names = np.empty(int(offsets[-1]), dtype=object)
        scores = np.empty(int(offsets[-1]), dtype=np.float64)
        for group in self.groups:
            order = np.argsort(-group.probs, axis=1, kind="stable")
            slots = offsets[group.rows][:, None] + np.arange(len(group.labels))  # (r, labels) positions in the flat lists
            names[slots] = np.asarray(group.labels, dtype=object)[order]
            scores[slots] = np.take_along_axis(group.probs, order, axis=1)
        values = pa.StructArray.from_arrays([pa.array(names, pa.string()), pa.array(scores, pa.float64())], names=["label", "score"])
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, type=SCORE_TYPE, mask=pa.array(null))


def predict_zero_shot(
    texts: pa.StringArray,
    label_sets: Sequence[tuple[str, ...] | None],
    runtime: AnyRuntime,
    template: str = DEFAULT_TEMPLATE,
    temperature: float = DEFAULT_TEMPERATURE,
    refine: bool = False,
    bar: progress.Progress | None = None,
) -> Prediction:
    """Zero-shot per row: ``label_sets[i]`` (already checked) are row i's labels; a NULL text or label set → NULL.

    All texts of the call are embedded together (``bar`` counts them); each distinct label set is embedded once
    (cached). ``refine``: each label set's vectors are refined over the rows of this call that carry it
    (:func:`sqlml.ops.classify.refine.refine_label_vectors`), so the answer depends on the whole call.
    """
    values = texts.to_pylist()
    rows = [i for i, text in enumerate(values) if text is not None and label_sets[i] is not None]
    vectors = text_vectors([values[i] for i in rows], runtime, bar) if rows else None
    out = Prediction(len(texts))
    groups: dict[tuple[str, ...], list[int]] = {}
    for pos, i in enumerate(rows):
        groups.setdefault(label_sets[i], []).append(pos)  # type: ignore[arg-type]
    row_index = np.asarray(rows, dtype=np.int64)
    prototypes_of = label_vectors_of(list(groups), template, runtime)
    for labels, positions in groups.items():
        prototypes = prototypes_of[labels]
        if refine:
            prototypes = refine_label_vectors(prototypes, vectors[positions])  # type: ignore[index]
        probs = zero_shot_probabilities(vectors[positions], prototypes, temperature)  # type: ignore[index]
        out.groups.append(PredictionGroup(labels, row_index[positions], probs.astype(np.float64, copy=False)))
    return out


def predict_model(texts: pa.StringArray, classifier: HeadModel | SequenceClassifierModel) -> Prediction:
    """Apply a trained head or sequence classifier to every non-null text; NULL text → NULL."""
    values, nulls = valid_strings(texts)
    if not values:
        return Prediction(len(texts))
    probs = classifier.probabilities(values).astype(np.float64, copy=False)
    rows = np.arange(len(texts)) if nulls is None else np.flatnonzero(~nulls.to_numpy(zero_copy_only=False))
    return Prediction(len(texts), [PredictionGroup(classifier.labels, rows, probs)])


@dataclass(frozen=True)
class Classifier:
    """One call's classifier: zero-shot over labels (constant or per row) or a resolved head / HF classifier."""

    labels: tuple[str, ...] | None
    model: HeadModel | SequenceClassifierModel | None
    runtime: AnyRuntime | None
    template: str
    temperature: float
    function: str
    refine: bool = False

    def predict(self, texts: pa.StringArray, row_labels: pa.Array | None = None, bar: progress.Progress | None = None) -> Prediction:
        """Predictions for ``texts``; ``row_labels`` (a list column aligned with ``texts``) replaces the
        constant labels of a zero-shot classifier. A NULL labels row gives NULL. ``bar`` counts zero-shot's
        embedded texts."""
        if self.model is not None:
            return predict_model(texts, self.model)
        assert self.runtime is not None
        if row_labels is None:
            return predict_zero_shot(texts, [self.labels] * len(texts), self.runtime, self.template, self.temperature, self.refine,
                                     bar)
        checked: dict[tuple[str | None, ...], tuple[str, ...]] = {}  # each distinct label set is validated once
        label_sets: list[tuple[str, ...] | None] = []
        for row in row_labels.to_pylist():
            if row is not None and tuple(row) not in checked:
                checked[tuple(row)] = check_labels(row, self.function)
            label_sets.append(None if row is None else checked[tuple(row)])
        return predict_zero_shot(texts, label_sets, self.runtime, self.template, self.temperature, self.refine, bar)


def check_choice(function: str, has_labels: bool, model: str | None) -> None:
    """Raise :class:`InvalidArgumentError` unless exactly one of labels (zero-shot) and ``model`` is given."""
    if has_labels and model is not None:
        raise InvalidArgumentError(
            f"{function}: give labels (zero-shot) or model (a trained classifier or sequence-classifier folder), not both; "
            "to choose the embedding model of zero-shot classification use embedding_model"
        )
    if not has_labels and model is None:
        raise InvalidArgumentError(
            f"{function}: give labels (a list of label names) for zero-shot classification or model (the name of a trained "
            f"classifier, known: {heads.known_heads_text()}; or a sequence-classifier folder)"
        )


def resolve_classifier(
    function: str,
    settings: Settings,
    *,
    labels: Sequence[str] | None = None,
    model: str | os.PathLike[str] | None = None,
    embedding_model: str | os.PathLike[str] | None = None,
    template: str | None = None,
    temperature: float | None = None,
    per_row_labels: bool = False,
    refine: bool = False,
) -> Classifier:
    """The one place a call's classifier is chosen: zero-shot when it has labels, else ``model``.

    ``per_row_labels``: labels come with each row (SQL's list column); the constant ``labels`` must then
    be ``None``. ``refine``: zero-shot label vectors refined over each call's rows (the caller hands the whole
    set of rows to one call); its template and temperature default to :data:`~sqlml.ops.classify.refine.REFINE_TEMPLATE`
    and :data:`~sqlml.ops.classify.refine.REFINE_TEMPERATURE`.
    ``model`` and ``embedding_model`` may be ``os.PathLike`` (folders). Raises :class:`InvalidArgumentError`
    for both or neither, a model argument of another type, bad labels, template or temperature.
    """
    model = check_model_argument(model, "model", function)
    embedding_model = check_model_argument(embedding_model, "embedding_model", function)
    check_choice(function, per_row_labels or labels is not None, model)
    if refine and model is not None:
        raise InvalidArgumentError(
            f"{function}: refine applies to zero-shot labels; a trained or Hugging Face classifier (model := {model!r}) "
            "is not refined: leave refine off"
        )
    if model is not None:  # template and temperature are zero-shot's: a classifier model ignores them
        return Classifier(None, resolve_model(model, settings, embedding_model), None, DEFAULT_TEMPLATE, DEFAULT_TEMPERATURE, function)
    prompt = check_template(REFINE_TEMPLATE if refine and template is None else template, function)
    temp = check_temperature(temperature, function, REFINE_TEMPERATURE if refine else DEFAULT_TEMPERATURE)
    constant = None if labels is None else check_labels(labels, function)
    return Classifier(constant, None, runtime_for(settings, embedding_model), prompt, temp, function, refine)
