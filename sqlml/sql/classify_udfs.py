"""Private UDFs behind ``udfs/classify.sql``: ``_sqlml_classify``, ``_sqlml_classify_scores``, ``_sqlml_train``.

Classification UDFs take the labels per row (a ``VARCHAR[]``; usually a constant list) and the
classifier, embedding model, template and temperature as per-call constants. Training is a scalar UDF
over *lists*: ``sqlml_train('name', list(text), list(label))`` is evaluated once per group after
DuckDB's ``list`` aggregates have collected the rows, so the UDF never runs SQL on its own connection
(which would deadlock).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from sqlml.errors import InvalidArgumentError
from sqlml.models.heads import known_heads_text
from sqlml.ops.classify.core import (
    Prediction,
    RuntimeSettings,
    check_labels,
    check_template,
    check_temperature,
    predict_model,
    predict_zero_shot,
    resolve_model,
)
from sqlml.on_error import run_rows
from sqlml.ops.inputs import as_string_array
from sqlml.ops.classify.train import DEFAULT_C, DEFAULT_TEST_SIZE, train_classifier
from sqlml.sql.arrow_args import constant, single_chunk
from sqlml.sql.context import SqlContext

SCORES_SQL_TYPE = "STRUCT(label VARCHAR, score DOUBLE)[]"
TRAIN_FIELDS = [
    ("name", pa.string()), ("version", pa.int32()), ("model", pa.string()), ("labels", pa.list_(pa.string())),
    ("rows", pa.int64()), ("skipped", pa.int64()), ("held_out", pa.int64()), ("accuracy", pa.float64()),
    ("macro_f1", pa.float64()), ("note", pa.string()),
]
TRAIN_SQL_TYPE = (
    "STRUCT(name VARCHAR, version INTEGER, model VARCHAR, labels VARCHAR[], rows BIGINT, skipped BIGINT, "
    "held_out BIGINT, accuracy DOUBLE, macro_f1 DOUBLE, note VARCHAR)"
)


def _settings(ctx: SqlContext, embedding_model: str | None) -> RuntimeSettings:
    return RuntimeSettings(embedding_model or ctx.model, ctx.device, ctx.dtype, ctx.batch_size, ctx.max_batch_tokens)


def predict(
    ctx: SqlContext,
    function: str,
    texts: pa.Array | pa.ChunkedArray,
    labels: pa.Array | pa.ChunkedArray,
    models: pa.ChunkedArray,
    embedding_models: pa.ChunkedArray,
    templates: pa.ChunkedArray,
    temperatures: pa.ChunkedArray,
) -> Prediction:
    """One call's predictions: zero-shot where the row has labels, else the ``model`` classifier."""
    text_array = as_string_array(single_chunk(texts))
    model = constant(models, function, "model")
    settings = _settings(ctx, constant(embedding_models, function, "embedding_model"))
    label_lists: list[list[str | None] | None] = single_chunk(labels).to_pylist()
    given = any(x is not None for x in label_lists)
    if model is not None:
        if given:
            raise InvalidArgumentError(
                f"{function}: give labels (zero-shot) or model (a trained classifier or sequence-classifier folder), not both; "
                "to choose the embedding model of zero-shot classification use embedding_model :="
            )
        return predict_model(text_array, resolve_model(model, settings))
    if not given:
        raise InvalidArgumentError(
            f"{function}: give labels := ['a', 'b', ...] for zero-shot classification or model := 'name' for a trained "
            f"classifier (known: {known_heads_text()}) or a sequence-classifier folder"
        )
    checked: dict[tuple[str | None, ...], tuple[str, ...]] = {}  # each distinct label set is validated once
    label_sets: list[tuple[str, ...] | None] = []
    for row in label_lists:
        if row is not None and tuple(row) not in checked:
            checked[tuple(row)] = check_labels(row, function)
        label_sets.append(None if row is None else checked[tuple(row)])
    template = check_template(constant(templates, function, "template"), function)
    temperature = check_temperature(constant(temperatures, function, "temperature"), function)
    return predict_zero_shot(text_array, label_sets, settings.embedding_runtime(), template, temperature)


def train_rows(ctx: SqlContext, args: list[pa.ChunkedArray]) -> pa.StructArray:
    """Train one head per row of ``(name, texts[], labels[], c, test_size, seed, embedding_model)``."""
    rows: list[dict[str, Any] | None] = []
    columns = [single_chunk(a).to_pylist() for a in args]
    for name, texts, labels, c, test_size, seed, embedding_model in zip(*columns, strict=True):
        if name is None or texts is None or labels is None:
            rows.append(None)
            continue
        result = train_classifier(
            name, texts, labels, embedding_model=embedding_model or ctx.model,
            c=DEFAULT_C if c is None else c, test_size=DEFAULT_TEST_SIZE if test_size is None else test_size, seed=0 if seed is None else seed,
            device=ctx.device, dtype=ctx.dtype, batch_size=ctx.batch_size, max_batch_tokens=ctx.max_batch_tokens,
        )
        rows.append({"name": result.name, "version": result.version, "model": result.ref, "labels": list(result.labels),
                     "rows": result.rows, "skipped": result.skipped, "held_out": result.held_out,
                     "accuracy": result.accuracy, "macro_f1": result.macro_f1, "note": result.note})
    return pa.array(rows, type=pa.struct(TRAIN_FIELDS))


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register the classification UDFs; NULL text → NULL, NULL labels row (with labels given elsewhere) → NULL."""

    def guarded(function: str, args: list[pa.ChunkedArray], scores: bool) -> pa.Array:
        texts, labels, *rest, on_errors = args
        label_array = single_chunk(labels)

        def compute(part: pa.StringArray, start: int, stop: int) -> pa.Array:
            prediction = predict(ctx, function, part, label_array.slice(start, stop - start), *rest)
            return prediction.score_array() if scores else prediction.label_array()

        return run_rows(function, as_string_array(single_chunk(texts)), compute, constant(on_errors, function, "on_error"))

    def classify(
        texts: pa.ChunkedArray, labels: pa.ChunkedArray, models: pa.ChunkedArray, embedding_models: pa.ChunkedArray,
        templates: pa.ChunkedArray, temperatures: pa.ChunkedArray, on_errors: pa.ChunkedArray,
    ) -> pa.Array:
        return guarded("classify", [texts, labels, models, embedding_models, templates, temperatures, on_errors], scores=False)

    def classify_scores(
        texts: pa.ChunkedArray, labels: pa.ChunkedArray, models: pa.ChunkedArray, embedding_models: pa.ChunkedArray,
        templates: pa.ChunkedArray, temperatures: pa.ChunkedArray, on_errors: pa.ChunkedArray,
    ) -> pa.Array:
        return guarded("classify_scores", [texts, labels, models, embedding_models, templates, temperatures, on_errors], scores=True)

    def train(
        names: pa.ChunkedArray, texts: pa.ChunkedArray, labels: pa.ChunkedArray, cs: pa.ChunkedArray,
        test_sizes: pa.ChunkedArray, seeds: pa.ChunkedArray, embedding_models: pa.ChunkedArray,
    ) -> pa.Array:
        return train_rows(ctx, [names, texts, labels, cs, test_sizes, seeds, embedding_models])

    signature = ["VARCHAR", "VARCHAR[]", "VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE", "VARCHAR"]
    common: dict[str, Any] = {"type": "arrow", "null_handling": "special"}
    con.create_function("_sqlml_classify", classify, signature, "VARCHAR", **common)
    con.create_function("_sqlml_classify_scores", classify_scores, signature, SCORES_SQL_TYPE, **common)
    # side_effects: each call stores a new version, so DuckDB must neither fold nor repeat nor skip it
    con.create_function(
        "_sqlml_train", train, ["VARCHAR", "VARCHAR[]", "VARCHAR[]", "DOUBLE", "DOUBLE", "BIGINT", "VARCHAR"], TRAIN_SQL_TYPE,
        side_effects=True, **common,
    )
