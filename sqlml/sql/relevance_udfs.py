"""Private UDFs behind ``udfs/relevance.sql``: ``_sqlml_relevance``, ``_sqlml_top_k_sentences``, ``_sqlml_search``."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from sqlml.on_error import run_rows
from sqlml.ops.inputs import as_string_array
from sqlml.ops.relevance.scores import check_k, check_mode, check_query, relevance_array, search_array, top_k_sentences_array
from sqlml.sql.arrow_args import constant, single_chunk
from sqlml.sql.context import SqlContext

#: One search hit as SQL sees it: 0-based position in the aggregated list, score and 1-based rank.
HIT_FIELDS = {"row": pa.int64(), "score": pa.float64(), "rank": pa.int64()}


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register the relevance UDFs (NULL text or query → NULL; k, mode and model must be constants)."""

    def relevance(texts: pa.ChunkedArray, queries: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        runtime = ctx.runtime(constant(models, "relevance", "model"))
        query_array, cache = as_string_array(single_chunk(queries)), ctx.embedding_cache()
        return run_rows(
            "relevance", as_string_array(single_chunk(texts)),
            lambda part, start, stop: relevance_array(part, query_array.slice(start, stop - start), runtime, cache),
            constant(on_errors, "relevance", "on_error"),
        )

    def top_k_sentences(
        texts: pa.ChunkedArray, queries: pa.ChunkedArray, ks: pa.ChunkedArray, modes: pa.ChunkedArray, models: pa.ChunkedArray,
        on_errors: pa.ChunkedArray,
    ) -> pa.Array:
        column = as_string_array(single_chunk(texts))
        on_error = constant(on_errors, "top_k_sentences", "on_error")
        query = constant(queries, "top_k_sentences", "query")
        if query is None:
            return pa.nulls(len(column), pa.list_(pa.string()))
        query = check_query(query, "top_k_sentences")
        k = check_k(constant(ks, "top_k_sentences", "k"), "top_k_sentences")
        mode = check_mode(constant(modes, "top_k_sentences", "mode"), "top_k_sentences")
        runtime = None if mode == "lexical" else ctx.runtime(constant(models, "top_k_sentences", "model"))
        cache = ctx.embedding_cache()
        return run_rows(
            "top_k_sentences", column, lambda part, _s, _e: top_k_sentences_array(part, query, k, mode, runtime, cache), on_error
        )

    def search(
        corpora: pa.ChunkedArray, queries: pa.ChunkedArray, ks: pa.ChunkedArray, modes: pa.ChunkedArray, models: pa.ChunkedArray,
        on_errors: pa.ChunkedArray,
    ) -> pa.Array:
        on_error = constant(on_errors, "sqlml_search", "on_error")
        lists = single_chunk(corpora)
        query_values = single_chunk(queries).to_pylist()
        k = check_k(constant(ks, "sqlml_search", "k"), "sqlml_search")
        mode = check_mode(constant(modes, "sqlml_search", "mode"), "sqlml_search")
        runtime = None if mode == "lexical" else ctx.runtime(constant(models, "sqlml_search", "model"))
        out: list[list[dict[str, object]] | None] = []
        for i in range(len(lists)):  # one row per call in practice: the macro aggregates the table
            if not lists[i].is_valid or query_values[i] is None:
                out.append(None)
                continue
            query = check_query(query_values[i], "sqlml_search")
            cache = ctx.embedding_cache()
            # the rows of the corpus are the rows on_error isolates: a failing text becomes NULL (never matches)
            hits = run_rows(
                "sqlml_search", as_string_array(lists[i].values),
                lambda part, _s, _e: search_array(part, query, k, mode, runtime, cache), on_error,  # noqa: B023 - called at once
            )
            ranks = np.arange(1, len(hits.rows) + 1)
            out.append([{"row": int(r), "score": float(s), "rank": int(n)} for r, s, n in zip(hits.rows, hits.scores, ranks)])
        return pa.array(out, type=pa.list_(pa.struct(HIT_FIELDS)))

    common = {"type": "arrow", "null_handling": "special"}
    types = duckdb.sqltypes
    hit = duckdb.struct_type({"row": types.BIGINT, "score": types.DOUBLE, "rank": types.BIGINT})
    con.create_function("_sqlml_relevance", relevance, ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"], types.FLOAT, **common)
    con.create_function(
        "_sqlml_top_k_sentences",
        top_k_sentences,
        ["VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR"],
        duckdb.list_type(types.VARCHAR),
        **common,
    )
    con.create_function(
        "_sqlml_search", search, ["VARCHAR[]", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR"], duckdb.list_type(hit), **common
    )
