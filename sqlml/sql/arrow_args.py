"""Helpers for Arrow UDF arguments: DuckDB passes each argument as a (chunked) Arrow array per call."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sqlml.errors import InvalidArgumentError


def single_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Combine a chunked argument into one array (DuckDB hands at most 2048 rows per call)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def constant(values: pa.Array | pa.ChunkedArray, function: str, argument: str) -> Any:
    """The one value an argument takes in this call (``None`` if all null); error if rows disagree."""
    array = single_chunk(values)
    if len(array) == 0:
        return None
    distinct = pc.unique(array)
    if len(distinct) > 1:
        raise InvalidArgumentError(
            f"{function}: argument {argument!r} must be the same for every row (a constant), "
            f"found {len(distinct)} different values; split the query per value"
        )
    return distinct[0].as_py()
