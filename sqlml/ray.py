"""Ray Data adapter: the same operations over a distributed dataset (optional extra ``sqlml[ray]``).

>>> import ray, sqlml.ray as sr
>>> ds = ray.data.read_parquet("data/")
>>> ds = sr.summarize(ds, column="body", n=3, num_gpus=1)   # also sr.embed, sr.classify, sr.relevance
>>> ds.write_parquet("out/")

Each function adds one column with ``Dataset.map_batches`` and a callable class: every actor builds
the operation once (so the model loads once per actor), receives ``pyarrow`` batches and returns them
with the new column appended; rows are neither dropped nor reordered inside a batch. A crashed or
killed actor is restarted and its batch retried by Ray Data's actor pool (its defaults, read in the
2.60 source: ``max_restarts=-1``, ``max_task_retries=-1``); a block's output is committed only when
its task succeeds, so a retried batch is not duplicated. No model code imports Ray.

``on_error`` is the row policy of every front door: ``'raise'`` (default) fails the job naming the row
whose text makes the model fail; ``'null'`` writes NULL for such rows (counted in each actor's
:func:`sqlml.stats`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sqlml.errors import InvalidArgumentError, MissingExtraError
from sqlml.jobs.column import ColumnOp
from sqlml.ops.inputs import as_string_array
from sqlml.paths import check_output_path

if TYPE_CHECKING:
    import ray.data

#: Rows per Ray batch: large enough for the runtime to form full device batches.
DEFAULT_BATCH_SIZE = 4096


def _require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("sqlml.ray needs Ray Data, which is not installed: pip install 'sqlml[ray]'") from exc
    return ray


class _AddColumn:
    """The callable class Ray instantiates once per actor."""

    def __init__(self, op_name: str, options: dict[str, Any], column: str, output_column: str) -> None:
        self.op = ColumnOp(op_name, options)
        self.column = column
        self.output_column = output_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.column not in batch.column_names:
            raise InvalidArgumentError(f"column {self.column!r} is not in the dataset; its columns are: {', '.join(batch.column_names)}")
        texts = as_string_array(batch.column(self.column), what=f"column {self.column!r}")
        return batch.append_column(self.output_column, self.op(texts))


def map_column(
    ds: ray.data.Dataset,
    op_name: str,
    column: str,
    output_column: str,
    options: dict[str, Any] | None = None,
    *,
    num_gpus: float | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ray.data.Dataset:
    """Append ``output_column = op(column)`` to every batch of ``ds`` (lazy, like all Ray Data calls).

    ``num_gpus``: GPUs per actor (``1``; a fraction such as ``0.25`` packs small models four to a GPU;
    ``None`` → CPU actors). ``concurrency``: actors (``None`` → one per GPU asked for, or 1 on CPU).
    """
    _require_ray()
    options = dict(options or {})
    ColumnOp(op_name, options)  # its arguments are checked here, where the error reaches the caller, not in an actor
    if num_gpus:
        options.setdefault("device", "cuda")
    elif options.get("device") is None:
        options["device"] = "cpu"
    return ds.map_batches(
        _AddColumn,
        fn_constructor_kwargs={"op_name": op_name, "options": options, "column": column, "output_column": output_column},
        batch_format="pyarrow",
        batch_size=batch_size,
        num_gpus=num_gpus,
        concurrency=concurrency or 1,
        udf_modifying_row_count=False,
    )


def embed(
    ds: ray.data.Dataset,
    column: str,
    *,
    output_column: str = "embedding",
    model: str | None = None,
    on_error: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ray.data.Dataset:
    """Add an embedding column (``FixedSizeList<float32, d>``, null text → null)."""
    return map_column(ds, "embed", column, output_column, {"model": model, "on_error": on_error}, num_gpus=num_gpus, concurrency=concurrency, batch_size=batch_size)


def summarize(
    ds: ray.data.Dataset,
    column: str,
    *,
    n: int = 3,
    max_words: int | None = None,
    output_column: str = "summary",
    model: str | None = None,
    on_error: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ray.data.Dataset:
    """Add an extractive summary column (``n`` sentences, verbatim, original order, within ``max_words`` words when
    given; NULL/empty → NULL)."""
    options = {"n": n, "max_words": max_words, "model": model, "on_error": on_error}
    return map_column(ds, "summarize", column, output_column, options, num_gpus=num_gpus, concurrency=concurrency, batch_size=batch_size)


def classify(
    ds: ray.data.Dataset,
    column: str,
    *,
    labels: list[str] | None = None,
    model: str | None = None,
    scores: bool = False,
    output_column: str | None = None,
    template: str | None = None,
    temperature: float | None = None,
    embedding_model: str | None = None,
    on_error: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ray.data.Dataset:
    """Add a label column (zero-shot ``labels`` or a classifier ``model``); ``scores=True`` adds every label's probability.

    ``template`` and ``temperature`` are those of :func:`sqlml.classify`."""
    options = {"labels": labels, "model": model, "scores": scores, "template": template, "temperature": temperature,
               "embedding_model": embedding_model, "on_error": on_error}
    name = output_column or ("scores" if scores else "label")
    return map_column(ds, "classify", column, name, options, num_gpus=num_gpus, concurrency=concurrency, batch_size=batch_size)


def relevance(
    ds: ray.data.Dataset,
    column: str,
    query: str,
    *,
    output_column: str = "relevance",
    model: str | None = None,
    on_error: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ray.data.Dataset:
    """Add the semantic relevance (cosine, FLOAT) of each text to ``query``; NULL text → NULL.

    Rank with Ray afterwards (``ds.sort(output_column, descending=True).limit(k)``): BM25 and hybrid
    scores need the whole corpus at once, which is what ``sqlml_search`` does on one machine.
    """
    options = {"query": query, "model": model, "on_error": on_error}
    return map_column(ds, "relevance", column, output_column, options, num_gpus=num_gpus, concurrency=concurrency, batch_size=batch_size)


def run_parquet_job(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    op_name: str,
    column: str,
    output_column: str,
    options: dict[str, Any] | None = None,
    *,
    address: str | None = None,
    num_gpus: float | None = None,
    concurrency: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """The CLI's ``--engine ray``: read Parquet, add the column, write a folder of Parquet files in order.

    Returns the number of rows written. ``address``: a Ray cluster (``'auto'``), or ``None`` for a local one.
    Input files are united by column name as on the local engine (:func:`sqlml.jobs.parquet.open_dataset`).
    The folder is written beside ``output_dir`` and then takes its place (:func:`sqlml.atomic.atomic_folder`):
    a re-run replaces an earlier output, and a failed run leaves it as it was.
    """
    import pyarrow.parquet as pq

    from sqlml.atomic import atomic_folder
    from sqlml.jobs.parquet import check_output_apart, expand_inputs, open_dataset

    check_output_path(output_dir, "folder")
    ray = _require_ray()
    files = expand_inputs(inputs)
    schema = open_dataset(files, column).schema  # same checks and messages as the local engine, before any cluster work
    check_output_apart(files, output_dir)
    with atomic_folder(output_dir, ".parquet") as folder:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        source = ray.data.read_parquet(files, schema=schema)
        ds = map_column(source, op_name, column, output_column, options, num_gpus=num_gpus, concurrency=concurrency, batch_size=batch_size)
        ds.write_parquet(os.fspath(folder))
        return sum(pq.ParquetFile(part).metadata.num_rows for part in folder.glob("*.parquet"))
