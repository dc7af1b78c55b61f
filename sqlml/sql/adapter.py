"""The one Arrow adapter between DuckDB and the operations: constants, chunks, per-row arguments, ``on_error``.

DuckDB calls an Arrow UDF with each argument as a (chunked) Arrow array of up to 2048 rows, from several
threads at once. :func:`row_udf` turns a :class:`UdfSpec` (the table is :mod:`sqlml.sql.specs`) into that callable: it reads
the arguments that must be the same for every row (model, k, mode, ...) with :func:`constant`, slices the
per-row ones along with the texts, binds the operation once per call and runs it under the row policy.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from sqlml.errors import InvalidArgumentError
from sqlml.on_error import run_rows
from sqlml.ops.inputs import as_string_array

if TYPE_CHECKING:
    from sqlml.ops.calls import Bound
    from sqlml.sql.context import SqlContext


@dataclass(frozen=True)
class Arg:
    """One UDF argument: its name (as the macro passes it), SQL type, and whether it may differ per row."""

    name: str
    sql_type: str
    per_row: bool = False


#: A binder as the SQL door calls it: the connection, the public function name, the call's per-row
#: columns (whole call) and its constants → the bound core.
SqlBinder = Callable[..., "Bound"]


@dataclass(frozen=True)
class UdfSpec:
    """A private UDF: ``name``, the public ``function`` its errors and counters name, its return type
    (``returns(ctx)``), and either ``arguments`` + ``bind`` (row-wise, through the adapter) or ``udf``
    (a callable factory for functions that are not one result per text)."""

    name: str
    function: str
    returns: Callable[[SqlContext], str]
    arguments: tuple[Arg, ...] = ()
    bind: SqlBinder | None = None
    udf: Callable[[SqlContext], Callable[..., Any]] | None = None
    side_effects: bool = False


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


def row_udf(spec: UdfSpec, ctx: SqlContext) -> Callable[..., pa.Array]:
    """The DuckDB callable of a row-wise spec: ``(text, *arguments, on_error) -> results``, one per row.

    Every path the call resolves passes the database's DuckDB sandbox (:meth:`SqlContext.sandbox`).
    """
    names = [argument.name for argument in spec.arguments]

    def udf(*columns: pa.ChunkedArray) -> pa.Array:
        given = dict(zip(names, columns, strict=True))
        texts = as_string_array(single_chunk(given.pop("text")))
        on_error = constant(given.pop("on_error"), spec.function, "on_error")
        with ctx.sandbox():
            per_row = {a.name: single_chunk(given[a.name]) for a in spec.arguments if a.per_row and a.name in given}
            constants = {a.name: constant(given[a.name], spec.function, a.name) for a in spec.arguments if a.name in given and not a.per_row}
            bound = spec.bind(ctx, spec.function, per_row, **constants)
            return run_rows(
                spec.function, texts,
                lambda part, start, stop: bound(part, {name: column.slice(start, stop - start) for name, column in per_row.items()}),
                on_error,
            )

    # DuckDB counts the callable's parameters against the argument types: name them.
    udf.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])  # type: ignore[attr-defined]
    return udf
