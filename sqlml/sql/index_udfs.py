"""The private UDFs of the named-index functions (``udfs/index.sql``), listed in :data:`sqlml.sql.specs.SPECS`.

A UDF cannot run SQL on its own connection (it would deadlock), so building takes the table's keys and texts
as two lists (the ``sqlml_index`` table macro collects them with ``list()``, as ``sqlml_train`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pyarrow as pa

from sqlml.config import Settings
from sqlml.errors import InvalidArgumentError
from sqlml.ops.index import store
from sqlml.ops.index.build import build_index
from sqlml.ops.index.search import IndexHits, neighbours, search_index
from sqlml.ops.relevance.scores import check_k, check_mode
from sqlml.sql.adapter import constant, single_chunk
from sqlml.sql.context import SqlContext

HIT = pa.struct([("key", pa.string()), ("score", pa.float64()), ("rank", pa.int64()), ("passage", pa.string())])
HITS_SQL_TYPE = "STRUCT(key VARCHAR, score DOUBLE, rank BIGINT, passage VARCHAR)[]"
REPORT_FIELDS = [("name", pa.string()), ("version", pa.int64()), ("rows", pa.int64()), ("added", pa.int64()), ("updated", pa.int64()),
                 ("removed", pa.int64()), ("unchanged", pa.int64()), ("skipped", pa.int64()), ("seconds", pa.float64()),
                 ("bytes", pa.int64())]
LIST_FIELDS = [("name", pa.string()), ("version", pa.int64()), ("source", pa.string()), ("rows", pa.int64()), ("model", pa.string()),
               ("dimension", pa.int64()), ("bytes", pa.int64()), ("updated_at", pa.string()), ("path", pa.string()), ("error", pa.string())]
_SQL_NAMES = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT"}


def _sql_struct(fields: list[tuple[str, pa.DataType]]) -> str:
    """DuckDB's ``STRUCT(...)`` type of Arrow ``fields``."""
    return "STRUCT(" + ", ".join(f"{name} {_SQL_NAMES[kind]}" for name, kind in fields) + ")"


REPORT_SQL_TYPE = _sql_struct(REPORT_FIELDS)
LIST_SQL_TYPE = _sql_struct(LIST_FIELDS) + "[]"


def _settings(ctx: SqlContext, model: str | None) -> Settings:
    """The connection's settings, with ``model`` when the call names one."""
    return replace(ctx.settings, model=model or ctx.settings.model)


def index_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_index(name, keys[], texts[], source, key_column, model, rebuild, chunk)``: build or refresh, one report per row."""

    def build(names: Any, keys: Any, texts: Any, sources: Any, key_columns: Any, models: Any, rebuilds: Any, chunks: Any) -> pa.Array:
        rows: list[dict[str, Any] | None] = []
        columns = [single_chunk(a).to_pylist() for a in (names, keys, texts, sources, key_columns, models, rebuilds, chunks)]
        with ctx.sandbox():  # the index folder written, the model's path
            for name, row_keys, row_texts, source, key_column, model, rebuild, chunk in zip(*columns, strict=True):
                if name is None:
                    rows.append(None)
                    continue
                if key_column is None:
                    raise InvalidArgumentError(
                        "sqlml_index: key := 'column' is required: the key column (unique, e.g. the primary key) joins search "
                        "hits back to the table and tells a refresh which rows changed"
                    )
                report = build_index(name, row_keys or [], row_texts or [], settings=_settings(ctx, model), rebuild=bool(rebuild),
                                     chunk=chunk, source=source)
                rows.append(report.as_dict())
        return pa.array(rows, type=pa.struct(REPORT_FIELDS))

    return build


def _hits_array(found: list[IndexHits | None]) -> pa.Array:
    return pa.array([None if h is None else h.as_rows() for h in found], type=pa.list_(HIT))


def index_search_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_index_search(name, query, k, mode, keys[], model)``: top-k hits per query row, every query of a chunk at once."""

    def search(names: Any, queries: Any, ks: Any, modes: Any, allowed: Any, models: Any) -> pa.Array:
        function = "sqlml_index_search"
        name = constant(names, function, "index_name")
        if name is None:
            return pa.nulls(len(queries), type=pa.list_(HIT))
        k = check_k(constant(ks, function, "k"), function)
        mode = check_mode(constant(modes, function, "mode") or "semantic", function)
        keys = single_chunk(allowed).to_pylist()
        model = constant(models, function, "model")
        texts = single_chunk(queries).to_pylist()
        with ctx.sandbox():
            if all(row == keys[0] for row in keys):
                return _hits_array(search_index(name, texts, k, mode, _settings(ctx, None), allowed=keys[0], model=model))
            found: list[IndexHits | None] = []  # a filter that differs by row: one search per row
            for query, row_keys in zip(texts, keys, strict=True):
                found += search_index(name, [query], k, mode, _settings(ctx, None), allowed=row_keys, model=model)
            return _hits_array(found)

    return search


def index_neighbours_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_index_neighbours(name, key, other, k, min_score)``: nearest rows of each key's row."""

    def near(names: Any, keys: Any, others: Any, ks: Any, min_scores: Any) -> pa.Array:
        function = "index_neighbours"
        name = constant(names, function, "index_name")
        if name is None:
            return pa.nulls(len(keys), type=pa.list_(HIT))
        k = check_k(constant(ks, function, "k"), function)
        min_score = constant(min_scores, function, "min_score")
        with ctx.sandbox():
            return _hits_array(neighbours(name, single_chunk(keys).to_pylist(), k, other=constant(others, function, "other"),
                                          min_score=min_score))

    return near


def indexes_udf(ctx: SqlContext) -> Callable[[], list[dict[str, Any]]]:
    """``_sqlml_indexes()``: one row per index."""

    def listing() -> list[dict[str, Any]]:
        with ctx.sandbox():  # the listing shows the store's paths and sources
            return [{name: row.get(name) for name, _ in LIST_FIELDS} for row in store.list_indexes()]

    return listing


def drop_index_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_drop_index(name)``: whether an index was dropped."""

    def drop(names: Any) -> pa.Array:
        with ctx.sandbox():
            return pa.array([None if n is None else store.drop(n) for n in single_chunk(names).to_pylist()], type=pa.bool_())

    return drop

