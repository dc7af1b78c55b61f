"""Runtimes of Hugging Face sequence classifiers: rows are label probabilities instead of embeddings.

A classifier (:class:`sqlml.models.hf_classifier.HFClassifier`) gets the same cross-thread,
length-sorted, token-budget batching and OOM splitting as an embedding model, through a
:class:`ClassifierRuntime`: the runtime interface plus the labels its rows score.
"""

from __future__ import annotations

import threading

from sqlml.config import Settings
from sqlml.engine.runtime import Runtime, batch_limits
from sqlml.models.hf_classifier import HFClassifier


class ClassifierRuntime(Runtime):
    """A :class:`~sqlml.engine.runtime.Runtime` whose rows are ``float32 (rows, len(labels))`` softmax
    probabilities, in the order of :attr:`labels`."""

    def __init__(self, classifier: HFClassifier, batch_size: int, max_batch_tokens: int) -> None:
        super().__init__(classifier, batch_size, max_batch_tokens)
        self._classifier = classifier

    @property
    def labels(self) -> tuple[str, ...]:
        """The classifier's label names (``config.json`` ``id2label``), one per output column."""
        return self._classifier.labels


_runtimes: dict[tuple[int, int, int], ClassifierRuntime] = {}
_lock = threading.Lock()


def classifier_runtime_for(settings: Settings, path: str) -> ClassifierRuntime:
    """The runtime of the classifier folder ``path`` with ``settings``' device, dtype and batch sizes."""
    return get_classifier_runtime(path, settings.device, settings.dtype, settings.batch_size, settings.max_batch_tokens)


def get_classifier_runtime(
    path: str,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
) -> ClassifierRuntime:
    """The process-wide runtime running the classifier folder ``path`` (the model is loaded once per
    path, device and dtype: :func:`~sqlml.models.hf_classifier.load_classifier`).

    Batch limits: :func:`sqlml.engine.runtime.batch_limits` (4,096 rows on GPU: classifier models are larger
    than sentence encoders).
    """
    from sqlml.models.device import resolve_device, resolve_dtype
    from sqlml.models.hf_classifier import load_classifier

    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    rows, tokens = batch_limits(batch_size, max_batch_tokens, dev, gpu_rows=4096)
    classifier = load_classifier(path, dev, dt)
    key = (id(classifier), rows, tokens)  # loaded classifiers stay loaded: the id names one for good
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = ClassifierRuntime(classifier, rows, tokens)
        return runtime
