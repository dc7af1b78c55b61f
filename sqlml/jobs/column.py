"""Operations bound to their options, as plain ``pa.StringArray -> pa.Array`` callables.

The CLI's Parquet jobs and the Ray Data adapter both apply "one operation to one text column"; this is
the one place that turns an operation name and its options into that callable. A :class:`ColumnOp` is
built from picklable arguments, so a Ray actor can build it once and keep the model loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sqlml.errors import InvalidArgumentError

if TYPE_CHECKING:
    from sqlml.engine.runtime import AnyRuntime


def _runtime(options: dict[str, Any]) -> AnyRuntime:
    """The embedding runtime an operation's options name (model, device, dtype, batch_size)."""
    from sqlml.engine.runtime import get_runtime

    return get_runtime(options.get("model"), options.get("device"), options.get("dtype"), options.get("batch_size"))


def _embed(options: dict[str, Any]) -> Callable[[pa.StringArray], pa.Array]:
    from sqlml.engine.cache import get_cache
    from sqlml.ops.embed import embed_array

    runtime = _runtime(options)
    cache = get_cache(options.get("cache"), runtime.encoder.device)
    return lambda texts: embed_array(texts, runtime, cache=cache)


def _summarize(options: dict[str, Any]) -> Callable[[pa.StringArray], pa.Array]:
    from sqlml.ops.summarize.pipeline import CHUNK_TEXTS, check_n, summarize_array

    n = options.get("n", 3)
    check_n(n)
    runtime = _runtime(options)

    def compute(texts: pa.StringArray) -> pa.Array:
        parts = [summarize_array(texts.slice(i, CHUNK_TEXTS), n, runtime) for i in range(0, len(texts), CHUNK_TEXTS)]
        return pa.concat_arrays(parts) if parts else pa.array([], type=pa.string())

    return compute


def _classify(options: dict[str, Any]) -> Callable[[pa.StringArray], pa.Array]:
    from sqlml.ops.classify.core import (
        Prediction, RuntimeSettings, check_labels, check_template, predict_model, predict_zero_shot, resolve_model,
    )

    labels, model = options.get("labels"), options.get("model")
    if (labels is None) == (model is None):
        raise InvalidArgumentError("classify: give labels (zero-shot) or model (a trained head or a Hugging Face classifier), exactly one")
    settings = RuntimeSettings(options.get("embedding_model"), options.get("device"), options.get("dtype"), options.get("batch_size"))
    if labels is not None:
        label_set = check_labels(list(labels), "classify")
        prompt, runtime = check_template(options.get("template"), "classify"), settings.embedding_runtime()

        def predict(texts: pa.StringArray) -> Prediction:
            return predict_zero_shot(texts, [label_set] * len(texts), runtime, prompt)
    else:
        classifier = resolve_model(model, settings)

        def predict(texts: pa.StringArray) -> Prediction:
            return predict_model(texts, classifier)

    scores = bool(options.get("scores"))
    return lambda texts: predict(texts).score_array() if scores else predict(texts).label_array()


def _relevance(options: dict[str, Any]) -> Callable[[pa.StringArray], pa.Array]:
    from sqlml.engine.cache import get_cache
    from sqlml.ops.relevance.scores import check_query, relevance_array

    query = check_query(options.get("query"), "relevance")
    runtime = _runtime(options)
    cache = get_cache(options.get("cache"), runtime.encoder.device)
    return lambda texts: relevance_array(texts, pa.array([query] * len(texts), pa.string()), runtime, cache)


#: operation name → builder taking the options dict.
BUILDERS: dict[str, Callable[[dict[str, Any]], Callable[[pa.StringArray], pa.Array]]] = {
    "embed": _embed,
    "summarize": _summarize,
    "classify": _classify,
    "relevance": _relevance,
}


@dataclass
class ColumnOp:
    """``ColumnOp('embed', {'model': 'default'})(texts)``: the operation applied to one text column.

    The model is loaded on first call (lazily), once per instance. Null texts give null results.
    ``options['on_error']`` (``'raise'`` default, or ``'null'``) is the row policy of :mod:`sqlml.on_error`.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    _fn: Callable[[pa.StringArray], pa.Array] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in BUILDERS:
            raise InvalidArgumentError(f"unknown operation {self.name!r}; use one of {', '.join(sorted(BUILDERS))}")

    def __call__(self, texts: pa.StringArray) -> pa.Array:
        from sqlml.on_error import run_rows

        if self._fn is None:
            self._fn = BUILDERS[self.name](self.options)
        fn = self._fn
        return run_rows(self.name, texts, lambda part, _start, _stop: fn(part), self.options.get("on_error"))
