"""Private UDFs behind ``udfs/summarize.sql``: ``_sqlml_summarize`` (VARCHAR) and ``_sqlml_summarize_explain``.

Each call gets up to 2048 texts, summarized in pieces (:data:`sqlml.ops.summarize.pipeline.PIECE_TEXTS`): a
piece's sentences are embedded in one runtime request and clustered in one k-means batch. ``n`` may differ per row (a column); NULL ``n`` gives NULL.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from sqlml.on_error import run_rows
from sqlml.ops.inputs import as_string_array
from sqlml.ops.summarize.pipeline import explain_array, summarize_array
from sqlml.sql.arrow_args import constant, single_chunk
from sqlml.sql.context import SqlContext

EXPLAIN_SQL_TYPE = "STRUCT(position INTEGER, sentence VARCHAR, cluster INTEGER, cluster_size INTEGER, score DOUBLE, selected BOOLEAN)[]"


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register the summarization UDFs; NULL or empty text → NULL, NULL model → the connection's default."""

    def summarize(texts: pa.ChunkedArray, ns: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        runtime = ctx.runtime(constant(models, "summarize", "model"))
        n = single_chunk(ns)
        return run_rows(
            "summarize", as_string_array(single_chunk(texts)),
            lambda part, start, stop: summarize_array(part, n.slice(start, stop - start), runtime),
            constant(on_errors, "summarize", "on_error"),
        )

    def explain(texts: pa.ChunkedArray, ns: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        runtime = ctx.runtime(constant(models, "summarize_explain", "model"))
        n = single_chunk(ns)
        return run_rows(
            "summarize_explain", as_string_array(single_chunk(texts)),
            lambda part, start, stop: explain_array(part, n.slice(start, stop - start), runtime, function="summarize_explain"),
            constant(on_errors, "summarize_explain", "on_error"),
        )

    common = {"type": "arrow", "null_handling": "special"}
    args = ["VARCHAR", "BIGINT", "VARCHAR", "VARCHAR"]
    con.create_function("_sqlml_summarize", summarize, args, "VARCHAR", **common)
    con.create_function("_sqlml_summarize_explain", explain, args, EXPLAIN_SQL_TYPE, **common)
