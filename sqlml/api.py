"""The Python API with the ``on_error`` policy: each public operation, wrapped once by :func:`with_on_error`.

``sqlml.embed(texts, on_error='null')`` gives the operation's own NULL result (a NaN row, ``None``) for
rows whose text makes it fail and the normal result for every other row; ``on_error='raise'`` (default)
raises :class:`sqlml.errors.RowFailedError` naming the row. See :mod:`sqlml.on_error`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from sqlml.ops.classify import core as _classify
from sqlml.ops import embed as _embed
from sqlml.ops.relevance import scores as _relevance
from sqlml.ops.summarize import pipeline as _summarize
from sqlml.on_error import python_texts, run_rows

ON_ERROR_DOC = """

    ``on_error``: ``'raise'`` (default) raises :class:`sqlml.RowFailedError` naming the first row whose
    text makes the operation fail; ``'null'`` gives that row's NULL result (counted in :func:`sqlml.stats`)
    and every other row its normal result. Argument errors raise under both.
    """


def with_on_error(fn: Callable[..., Any], function: str) -> Callable[..., Any]:
    """``fn(texts, *args, **kwargs)`` with an ``on_error`` keyword; results keep ``fn``'s type for ``texts``' kind."""

    @functools.wraps(fn)
    def wrapper(texts: Any, *args: Any, on_error: str | None = None, **kwargs: Any) -> Any:
        array = python_texts(texts, function, on_error)
        kind = _kind(texts)
        return run_rows(function, array, lambda part, _start, _stop: fn(kind(part), *args, **kwargs), on_error)

    wrapper.__doc__ = (fn.__doc__ or "").rstrip() + ON_ERROR_DOC
    return wrapper


def _kind(texts: Any) -> Callable[[pa.StringArray], Any]:
    """Turn an Arrow slice back into the kind of input the caller gave (the result type follows it)."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return lambda part: part
    if type(texts).__module__.startswith("polars"):
        import polars as pl

        return lambda part: pl.Series(texts.name, part)
    return lambda part: part.to_pylist()


embed = with_on_error(_embed.embed, "embed")
summarize = with_on_error(_summarize.summarize, "summarize")
summarize_explain = with_on_error(_summarize.summarize_explain, "summarize_explain")
classify = with_on_error(_classify.classify, "classify")
classify_scores = with_on_error(_classify.classify_scores, "classify_scores")
relevance = with_on_error(_relevance.relevance, "relevance")
top_k_sentences = with_on_error(_relevance.top_k_sentences, "top_k_sentences")
