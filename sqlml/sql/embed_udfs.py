"""Private UDFs behind ``udfs/embed.sql``: ``_sqlml_embed`` (FLOAT[d]) and ``_sqlml_embed_list`` (FLOAT[])."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from sqlml.ops.embed import embed_array
from sqlml.on_error import run_rows
from sqlml.ops.inputs import as_string_array
from sqlml.sql.arrow_args import constant, single_chunk
from sqlml.sql.context import SqlContext


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register the embedding UDFs; NULL text → NULL vector, NULL model → the connection's default."""

    def embed_fixed(texts: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        runtime = ctx.embedding_runtime(constant(models, "embed", "model"), "embed")
        cache = ctx.embedding_cache()
        return run_rows(
            "embed", as_string_array(single_chunk(texts)), lambda part, _s, _e: embed_array(part, runtime, cache=cache),
            constant(on_errors, "embed", "on_error"),
        )

    def embed_list(texts: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        runtime = ctx.runtime(constant(models, "embed_list", "model"))
        cache = ctx.embedding_cache()
        vectors = run_rows(
            "embed_list", as_string_array(single_chunk(texts)), lambda part, _s, _e: embed_array(part, runtime, cache=cache),
            constant(on_errors, "embed_list", "on_error"),
        )
        return pa.ListArray.from_arrays(
            pa.array(range(0, (len(vectors) + 1) * vectors.type.list_size, vectors.type.list_size), pa.int32()),
            vectors.values,
            mask=vectors.is_null(),
        )

    float_type = duckdb.sqltypes.FLOAT
    common = {"type": "arrow", "null_handling": "special"}
    con.create_function("_sqlml_embed", embed_fixed, ["VARCHAR", "VARCHAR", "VARCHAR"], duckdb.array_type(float_type, ctx.dimension), **common)
    con.create_function("_sqlml_embed_list", embed_list, ["VARCHAR", "VARCHAR", "VARCHAR"], duckdb.list_type(float_type), **common)
