"""Coercion of user inputs to Arrow string arrays, and of Arrow results back to the caller's type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sqlml.errors import InvalidArgumentError


def as_string_array(texts: Any, what: str = "texts") -> pa.StringArray:
    """Return ``texts`` as a single-chunk ``pa.string()`` array; ``None`` entries become nulls.

    Accepts a list/tuple/iterable of ``str | None``, a pyarrow (chunked) string or binary array (bytes
    are read as UTF-8, unchecked: :func:`invalid_utf8_rows` finds the rows that are not), a polars
    ``Series`` or a numpy array of strings. Raises :class:`InvalidArgumentError` for anything else,
    including non-string elements, so a column of numbers is never embedded as their text.
    """
    if isinstance(texts, str):
        raise InvalidArgumentError(f"{what} must be a list of strings, not one string; wrap it: [{texts[:30]!r}]")
    if _is_polars_series(texts):
        texts = texts.to_arrow()
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not isinstance(texts, pa.Array):
        if not isinstance(texts, Iterable):
            raise InvalidArgumentError(f"{what} must be a list, Arrow array or polars Series of strings, not {type(texts).__name__}")
        items = list(texts)
        # the types present first (one C-level pass); only other types than str and None need the per-item check
        bad = None if set(map(type, items)) <= _TEXT_ITEM_TYPES else next((x for x in items if x is not None and not isinstance(x, str)), None)
        if bad is not None:
            raise InvalidArgumentError(f"{what} must contain strings or None; found {type(bad).__name__} {bad!r}")
        texts = pa.array(items, type=pa.string())
    if pa.types.is_null(texts.type):
        return texts.cast(pa.string())
    if not is_text_type(texts.type):
        raise InvalidArgumentError(f"{what} must be strings, got Arrow type {texts.type}; cast the column to VARCHAR")
    if is_binary_type(texts.type):
        texts = texts.view(_AS_TEXT[texts.type.id])
    return texts if pa.types.is_string(texts.type) else texts.cast(pa.string())


#: Item types a list of texts may hold without a per-item check (subclasses of str get one).
_TEXT_ITEM_TYPES = {str, type(None)}

#: Binary Arrow type id -> the text type of the same layout (a zero-copy view, no UTF-8 check).
_AS_TEXT = {pa.binary().id: pa.string(), pa.large_binary().id: pa.large_string(), pa.binary_view().id: pa.string_view()}


def is_text_type(kind: pa.DataType) -> bool:
    """Whether :func:`as_string_array` reads an Arrow array of type ``kind`` as text: any string type, or binary."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind) or is_binary_type(kind)


def is_binary_type(kind: pa.DataType) -> bool:
    """Whether ``kind`` is a variable-width binary type, read as UTF-8 text (Parquet BYTE_ARRAY without a text annotation)."""
    return kind.id in _AS_TEXT


def invalid_utf8_rows(texts: pa.StringArray) -> list[int]:
    """Positions of the rows whose bytes are not valid UTF-8, in order; NULL rows never are.

    Arrow data is not checked on the way in (a Parquet file, a registered table, ``Array.from_buffers``):
    one C-speed validation clears the usual array, and only a failing one is read row by row.
    """
    try:
        texts.validate(full=True)
        return []
    except pa.ArrowInvalid:
        pass
    return [i for i, raw in enumerate(texts.view(pa.binary()).to_pylist()) if raw is not None and not _is_utf8(raw)]


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_polars_series(obj: Any) -> bool:
    module = type(obj).__module__
    return module.startswith("polars") and type(obj).__name__ == "Series"


def valid_strings(texts: pa.StringArray) -> tuple[list[str], pa.BooleanArray | None]:
    """The non-null values as Python strings, and the null mask (``None`` when there are no nulls)."""
    if texts.null_count == 0:
        return texts.to_pylist(), None
    mask = texts.is_null()
    return texts.filter(pc.invert(mask)).to_pylist(), mask


def unique_index(values: list[str]) -> tuple[list[str], list[int] | None]:
    """Deduplicate: ``uniques[index[i]] == values[i]`` for every i; uniques keep first-seen order.

    ``index`` is ``None`` when every value is unique (``uniques`` is then ``values``). Every pass is a
    C-level loop (``dict.fromkeys``, ``map``) because a Python-level loop holds the GIL that DuckDB's
    other threads need on the SQL embedding path.
    """
    firsts = dict.fromkeys(values)
    if len(firsts) == len(values):
        return values, None
    positions = dict(zip(firsts, range(len(firsts))))
    return list(firsts), list(map(positions.__getitem__, values))
