"""The private UDFs behind ``udfs/*.sql``, declared as one table.

Each public SQL function is a macro in ``udfs/NAME.sql`` over a private fixed-signature UDF
(``_sqlml_NAME``) listed in :data:`SPECS`. A row-wise spec names its arguments (which are per row, which
must be constants) and the binder of its core in :mod:`sqlml.ops.calls`; :func:`sqlml.sql.adapter.row_udf`
does the rest. Adding a function: one macro file, one spec line, one core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from sqlml.engine.counters import stats
from sqlml.errors import InvalidArgumentError
from sqlml.models.catalog import list_models
from sqlml.on_error import run_rows
from sqlml.ops.calls import (
    Bound,
    bind_classify,
    bind_embed,
    bind_relevance,
    bind_summarize,
    bind_summarize_explain,
    bind_top_k_sentences,
    mode_runtime,
)
from sqlml.ops.classify.core import resolve_classifier
from sqlml.ops.classify.refine import REFINE_TEMPLATE
from sqlml.ops.classify.train import DEFAULT_C, DEFAULT_METHOD, DEFAULT_TEST_SIZE, train_classifier
from sqlml.ops.inputs import as_string_array
from sqlml.ops.relevance.scores import SEARCH_COLUMNS, check_k, check_mode, check_query, check_table_columns, search_array
from sqlml.sql.adapter import Arg, SqlBinder, UdfSpec, constant, single_chunk
from sqlml.sql.context import SqlContext
from sqlml.sql.index_udfs import (
    HITS_SQL_TYPE,
    LIST_SQL_TYPE,
    REPORT_SQL_TYPE,
    drop_index_udf,
    index_neighbours_udf,
    index_search_udf,
    index_udf,
    indexes_udf,
)

TEXT = Arg("text", "VARCHAR", per_row=True)
MODEL = Arg("model", "VARCHAR")
ON_ERROR = Arg("on_error", "VARCHAR")


def _embed(ctx: SqlContext, function: str, rows: Mapping[str, pa.Array], *, model: str | None) -> Bound:
    ctx.fixed_width_runtime(model, function)
    return bind_embed(ctx.settings, function, model=model)


def _embed_list(ctx: SqlContext, function: str, rows: Mapping[str, pa.Array], *, model: str | None) -> Bound:
    fixed = bind_embed(ctx.settings, function, model=model)

    def run(texts: pa.StringArray, per_row: Mapping[str, pa.Array]) -> pa.Array:
        vectors = fixed(texts, per_row)
        width = vectors.type.list_size
        offsets = pa.array(np.arange(0, (len(vectors) + 1) * width, width, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, vectors.values, mask=vectors.is_null())

    return run


def _classify(scores: bool) -> SqlBinder:
    def bind(
        ctx: SqlContext, function: str, rows: Mapping[str, pa.Array], *, model: str | None, embedding_model: str | None,
        template: str | None, temperature: float | None,
    ) -> Bound:
        # zero-shot where rows carry labels, else the model's classifier (the rows' labels are then all NULL)
        has_labels = rows["labels"].null_count < len(rows["labels"])
        return bind_classify(
            ctx.settings, function, model=model, embedding_model=embedding_model, template=template, temperature=temperature,
            scores=scores, per_row_labels=has_labels,
        )

    return bind


def _classify_rows_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_classify_rows(list(text), column, columns, labels, template, temperature, refine, embedding_model, on_error)``:
    one ``(row, label, score)`` per row of each aggregated table, in row order (NULL text → NULL label and score).

    ``columns`` (the table's column names) must not hold the ``predicted_label``/``predicted_score`` the results add.
    Arguments are checked before the rows are looked at, so an empty table refuses what a full one would.
    """
    function = "sqlml_classify"

    def classify_rows(tables: pa.ChunkedArray, text_columns: pa.ChunkedArray, columns: pa.ChunkedArray, labels: pa.ChunkedArray,
                      templates: pa.ChunkedArray, temperatures: pa.ChunkedArray, refines: pa.ChunkedArray, models: pa.ChunkedArray,
                      on_errors: pa.ChunkedArray) -> pa.Array:
        on_error = constant(on_errors, function, "on_error")
        if constant(text_columns, function, "column_name") is None:
            raise InvalidArgumentError(f"{function}: column_name is NULL; name the text column, e.g. sqlml_classify('news', 'body', [...])")
        for names in single_chunk(columns).to_pylist():
            check_table_columns(names or [], function, PREDICTED_COLUMNS)
        refine = constant(refines, function, "refine")
        if refine is None:
            raise InvalidArgumentError(f"{function}: refine is NULL; give true (labels refined over the table's rows) or false")
        model, template, temperature = (constant(a, function, n) for a, n in ((models, "embedding_model"), (templates, "template"),
                                                                              (temperatures, "temperature")))
        lists = single_chunk(tables)
        out: list[pa.Array | None] = []
        for i, row_labels in enumerate(single_chunk(labels).to_pylist()):  # one row per call in practice: the macro aggregates
            if row_labels is None:
                raise InvalidArgumentError(f"{function}: labels is NULL; give the label names, e.g. ['business', 'sport']")
            with ctx.sandbox():
                classifier = resolve_classifier(function, ctx.settings, labels=row_labels, embedding_model=model,
                                                template=REFINE_TEMPLATE if template is None else template, temperature=temperature,
                                                refine=refine)
            if not lists[i].is_valid:  # an empty table
                out.append(None)
                continue
            # the whole table is one call: refined labels depend on every row (a failing text becomes NULL under 'null')
            texts = as_string_array(lists[i].values)
            prediction = run_rows(function, texts, lambda part, _s, _e: classifier.predict(part), on_error)  # noqa: B023 - called at once
            names, scores = prediction.top()
            out.append(pa.StructArray.from_arrays([pa.array(np.arange(len(texts), dtype=np.int64)), names, scores],
                                                  names=list(PREDICTED_FIELDS)))
        offsets = np.cumsum([0] + [0 if rows is None else len(rows) for rows in out])
        values = pa.concat_arrays([rows for rows in out if rows is not None]) if any(rows is not None for rows in out) else \
            pa.array([], type=pa.struct(PREDICTED_FIELDS))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=pa.list_(pa.struct(PREDICTED_FIELDS)),
                                        mask=pa.array([rows is None for rows in out]))

    return classify_rows


#: One classified row as SQL sees it: 0-based position in the aggregated list, label and its probability.
PREDICTED_FIELDS = {"row": pa.int64(), "label": pa.string(), "score": pa.float64()}
#: The columns ``sqlml_classify`` adds after the table's own.
PREDICTED_COLUMNS = ("predicted_label", "predicted_score")


def _search_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_search(list(text), columns, query, k, mode, model, on_error)``: the hits of each aggregated corpus.

    ``columns`` (the table's column names) must not hold the ``score``/``rank`` the results add.
    """
    function = "sqlml_search"

    def search(corpora: pa.ChunkedArray, columns: pa.ChunkedArray, queries: pa.ChunkedArray, ks: pa.ChunkedArray,
               modes: pa.ChunkedArray, models: pa.ChunkedArray, on_errors: pa.ChunkedArray) -> pa.Array:
        on_error = constant(on_errors, function, "on_error")
        lists = single_chunk(corpora)
        for names in single_chunk(columns).to_pylist():
            check_table_columns(names or [], function, SEARCH_COLUMNS)
        query_values = single_chunk(queries).to_pylist()
        k = check_k(constant(ks, function, "k"), function)
        mode = check_mode(constant(modes, function, "mode"), function)
        with ctx.sandbox():
            runtime, cache = mode_runtime(ctx.settings, mode, constant(models, function, "model"))
        out: list[list[dict[str, object]] | None] = []
        for i in range(len(lists)):  # one row per call in practice: the macro aggregates the table
            if not lists[i].is_valid or query_values[i] is None:
                out.append(None)
                continue
            query = check_query(query_values[i], function)
            # the rows of the corpus are the rows on_error isolates: a failing text becomes NULL (never matches)
            hits = run_rows(
                function, as_string_array(lists[i].values),
                lambda part, _s, _e: search_array(part, query, k, mode, runtime, cache), on_error,  # noqa: B023 - called at once
            )
            ranks = np.arange(1, len(hits.rows) + 1)
            out.append([{"row": int(r), "score": float(s), "rank": int(n)} for r, s, n in zip(hits.rows, hits.scores, ranks)])
        return pa.array(out, type=pa.list_(pa.struct(HIT_FIELDS)))

    return search


#: One search hit as SQL sees it: 0-based position in the aggregated list, score and 1-based rank.
HIT_FIELDS = {"row": pa.int64(), "score": pa.float64(), "rank": pa.int64()}
TRAIN_FIELDS = [
    ("name", pa.string()), ("version", pa.int32()), ("model", pa.string()), ("labels", pa.list_(pa.string())),
    ("rows", pa.int64()), ("skipped", pa.int64()), ("held_out", pa.int64()), ("accuracy", pa.float64()),
    ("macro_f1", pa.float64()), ("note", pa.string()),
]


def _train_udf(ctx: SqlContext) -> Callable[..., pa.Array]:
    """``_sqlml_train(name, texts[], labels[], method, steps, c, test_size, seed, embedding_model, features)``: one head per row."""
    settings = ctx.settings

    def train(names: pa.ChunkedArray, texts: pa.ChunkedArray, labels: pa.ChunkedArray, methods: pa.ChunkedArray,
              steps: pa.ChunkedArray, cs: pa.ChunkedArray, test_sizes: pa.ChunkedArray, seeds: pa.ChunkedArray,
              embedding_models: pa.ChunkedArray, features: pa.ChunkedArray) -> pa.Array:  # DuckDB counts the parameters: no *args
        rows: list[dict[str, Any] | None] = []
        arrays = (names, texts, labels, methods, steps, cs, test_sizes, seeds, embedding_models, features)
        columns = [single_chunk(a).to_pylist() for a in arrays]
        with ctx.sandbox():  # the embedding model's path and the store folder written
            for name, rows_texts, rows_labels, method, step_count, c, test_size, seed, embedding_model, feature_set in zip(*columns, strict=True):
                if name is None or rows_texts is None or rows_labels is None:
                    rows.append(None)
                    continue
                result = train_classifier(
                    name, rows_texts, rows_labels, embedding_model=embedding_model or settings.model,
                    method=DEFAULT_METHOD if method is None else method, features=feature_set, steps=step_count,
                    c=DEFAULT_C if c is None else c, test_size=DEFAULT_TEST_SIZE if test_size is None else test_size,
                    seed=0 if seed is None else seed, device=settings.device, dtype=settings.dtype, batch_size=settings.batch_size,
                    max_batch_tokens=settings.max_batch_tokens,
                )
                rows.append({"name": result.name, "version": result.version, "model": result.ref, "labels": list(result.labels),
                             "rows": result.rows, "skipped": result.skipped, "held_out": result.held_out,
                             "accuracy": result.accuracy, "macro_f1": result.macro_f1, "note": result.note})
        return pa.array(rows, type=pa.struct(TRAIN_FIELDS))

    return train


def _fixed(sql_type: str) -> Callable[[SqlContext], str]:
    return lambda _ctx: sql_type


_CLASSIFY_ARGS = (
    TEXT, Arg("labels", "VARCHAR[]", per_row=True), MODEL, Arg("embedding_model", "VARCHAR"), Arg("template", "VARCHAR"),
    Arg("temperature", "DOUBLE"), ON_ERROR,
)
_SUMMARIZE_ARGS = (TEXT, Arg("n", "BIGINT", per_row=True), MODEL, ON_ERROR, Arg("max_words", "BIGINT"))
EXPLAIN_SQL_TYPE = (
    "STRUCT(position INTEGER, sentence VARCHAR, cluster INTEGER, cluster_size INTEGER, score DOUBLE, selected BOOLEAN, "
    "cluster_similarity DOUBLE, centrality DOUBLE, position_prior DOUBLE, boilerplate BOOLEAN)[]"
)
SCORES_SQL_TYPE = "STRUCT(label VARCHAR, score DOUBLE)[]"
TRAIN_SQL_TYPE = (
    "STRUCT(name VARCHAR, version INTEGER, model VARCHAR, labels VARCHAR[], rows BIGINT, skipped BIGINT, "
    "held_out BIGINT, accuracy DOUBLE, macro_f1 DOUBLE, note VARCHAR)"
)
MODEL_SQL_TYPE = (
    "STRUCT(name VARCHAR, id VARCHAR, kind VARCHAR, dimension INTEGER, device VARCHAR, dtype VARCHAR, loaded BOOLEAN, "
    "accuracy DOUBLE, macro_f1 DOUBLE)[]"
)
STATS_SQL_TYPE = "STRUCT(component VARCHAR, name VARCHAR, metric VARCHAR, reason VARCHAR, value BIGINT)[]"


def _no_rows(bind: Callable[..., Bound]) -> SqlBinder:
    """A binder of :mod:`sqlml.ops.calls` as the SQL door calls it (the connection's settings; no look at the rows)."""
    return lambda ctx, function, rows, **constants: bind(ctx.settings, function, **constants)


#: Every private UDF, registered in this order.
SPECS: tuple[UdfSpec, ...] = (
    UdfSpec("_sqlml_embed", "embed", lambda ctx: f"FLOAT[{ctx.dimension}]", (TEXT, MODEL, ON_ERROR), bind=_embed),
    UdfSpec("_sqlml_embed_list", "embed_list", _fixed("FLOAT[]"), (TEXT, MODEL, ON_ERROR), bind=_embed_list),
    UdfSpec("_sqlml_summarize", "summarize", _fixed("VARCHAR"), _SUMMARIZE_ARGS, bind=_no_rows(bind_summarize)),
    UdfSpec("_sqlml_summarize_explain", "summarize_explain", _fixed(EXPLAIN_SQL_TYPE), _SUMMARIZE_ARGS,
            bind=_no_rows(bind_summarize_explain)),
    UdfSpec("_sqlml_relevance", "relevance", _fixed("FLOAT"), (TEXT, Arg("query", "VARCHAR", per_row=True), MODEL, ON_ERROR),
            bind=lambda ctx, function, rows, **constants: bind_relevance(ctx.settings, function, per_row_query=True, **constants)),
    UdfSpec("_sqlml_top_k_sentences", "top_k_sentences", _fixed("VARCHAR[]"),
            (TEXT, Arg("query", "VARCHAR"), Arg("k", "BIGINT"), Arg("mode", "VARCHAR"), MODEL, ON_ERROR),
            bind=_no_rows(bind_top_k_sentences)),
    UdfSpec("_sqlml_classify", "classify", _fixed("VARCHAR"), _CLASSIFY_ARGS, bind=_classify(scores=False)),
    UdfSpec("_sqlml_classify_scores", "classify_scores", _fixed(SCORES_SQL_TYPE), _CLASSIFY_ARGS, bind=_classify(scores=True)),
    UdfSpec("_sqlml_classify_rows", "sqlml_classify", _fixed("STRUCT(row BIGINT, label VARCHAR, score DOUBLE)[]"),
            (Arg("texts", "VARCHAR[]"), Arg("column", "VARCHAR"), Arg("columns", "VARCHAR[]"), Arg("labels", "VARCHAR[]"),
             Arg("template", "VARCHAR"), Arg("temperature", "DOUBLE"), Arg("refine", "BOOLEAN"), Arg("embedding_model", "VARCHAR"), ON_ERROR),
            udf=_classify_rows_udf),
    UdfSpec("_sqlml_search", "sqlml_search", _fixed("STRUCT(row BIGINT, score DOUBLE, rank BIGINT)[]"),
            (Arg("texts", "VARCHAR[]"), Arg("columns", "VARCHAR[]"), Arg("query", "VARCHAR"), Arg("k", "BIGINT"), Arg("mode", "VARCHAR"), MODEL, ON_ERROR),
            udf=_search_udf),
    # side effects: each call stores a new version, so DuckDB must neither fold nor repeat nor skip it
    UdfSpec("_sqlml_train", "sqlml_train", _fixed(TRAIN_SQL_TYPE),
            (Arg("name", "VARCHAR"), Arg("texts", "VARCHAR[]"), Arg("labels", "VARCHAR[]"), Arg("method", "VARCHAR"),
             Arg("steps", "BIGINT"), Arg("c", "DOUBLE"),
             Arg("test_size", "DOUBLE"), Arg("seed", "BIGINT"), Arg("embedding_model", "VARCHAR"), Arg("features", "VARCHAR")),
            udf=_train_udf, side_effects=True),
    # side effects: each call writes a new version of the index (or drops it)
    UdfSpec("_sqlml_index", "sqlml_index", _fixed(REPORT_SQL_TYPE),
            (Arg("index_name", "VARCHAR"), Arg("keys", "VARCHAR[]"), Arg("texts", "VARCHAR[]"), Arg("source", "VARCHAR"),
             Arg("key_column", "VARCHAR"), MODEL, Arg("rebuild", "BOOLEAN"), Arg("chunk", "VARCHAR")),
            udf=index_udf, side_effects=True),
    UdfSpec("_sqlml_drop_index", "sqlml_drop_index", _fixed("BOOLEAN"), (Arg("index_name", "VARCHAR"),), udf=drop_index_udf,
            side_effects=True),
    # side effects: an index's answers change when it is refreshed
    UdfSpec("_sqlml_index_search", "index_search", _fixed(HITS_SQL_TYPE),
            (Arg("index_name", "VARCHAR"), Arg("query", "VARCHAR", per_row=True), Arg("k", "BIGINT"), Arg("mode", "VARCHAR"),
             Arg("keys", "VARCHAR[]", per_row=True), MODEL),
            udf=index_search_udf, side_effects=True),
    UdfSpec("_sqlml_index_neighbours", "index_neighbours", _fixed(HITS_SQL_TYPE),
            (Arg("index_name", "VARCHAR"), Arg("key", "VARCHAR", per_row=True), Arg("other", "VARCHAR"), Arg("k", "BIGINT"),
             Arg("min_score", "DOUBLE")),
            udf=index_neighbours_udf, side_effects=True),
    UdfSpec("_sqlml_indexes", "sqlml_indexes", _fixed(LIST_SQL_TYPE), udf=indexes_udf, side_effects=True),
    # side effects: the answers change as models load and queries run
    UdfSpec("_sqlml_models", "sqlml_models", _fixed(MODEL_SQL_TYPE),
            udf=lambda _ctx: lambda: [m.as_dict() for m in list_models()], side_effects=True),
    UdfSpec("_sqlml_stats", "sqlml_stats", _fixed(STATS_SQL_TYPE), udf=lambda _ctx: stats, side_effects=True),
)

