"""Column jobs over Parquet files: read in record batches, add a computed column, write atomically.

The output is written to a temporary file beside the target and renamed into place only when every
row is done, so a failed or killed run never leaves a partial file under the requested name.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sqlml import progress
from sqlml.errors import InputFileError, InvalidArgumentError

#: Rows read per record batch (one runtime request each; the runtime merges and re-batches).
READ_BATCH_ROWS = 8192


def expand_inputs(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Expand paths and glob patterns into a sorted file list; error if nothing matches."""
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        matched = sorted(glob.glob(text)) if glob.has_magic(text) else ([text] if Path(text).exists() else [])
        if not matched:
            raise InputFileError(f"input {text!r} does not exist (no file matches); check the path or quote the glob")
        files.extend(matched)
    return files


def open_dataset(files: list[str], column: str) -> ds.Dataset:
    """Open Parquet files and check that ``column`` exists and holds text."""
    try:
        dataset = ds.dataset(files, format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(f"cannot read {files[0]!r} as Parquet: {exc}") from exc
    if column not in dataset.schema.names:
        raise InputFileError(f"column {column!r} is not in the input; its columns are: {', '.join(dataset.schema.names)}")
    kind = dataset.schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
        raise InputFileError(f"column {column!r} has type {kind}, not text; choose a string column or cast it first")
    return dataset


def check_writable(target: str | os.PathLike[str]) -> Path:
    """Fail early, with the fix, if ``target`` cannot be written as a file; return its folder."""
    final = Path(target)
    if final.is_dir():
        raise InvalidArgumentError(f"output {str(final)!r} is a directory; give a file name such as {str(final / 'out.parquet')!r}")
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgumentError(f"cannot write {str(final)!r}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InvalidArgumentError(f"cannot write {str(final)!r}: folder {str(parent)!r} is not writable; choose a writable folder")
    return parent


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` only if the block succeeds."""
    parent = check_writable(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(target).name}.", suffix=".partial", dir=parent)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {str(target)!r}: {exc.strerror}; choose a writable folder") from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def map_parquet(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    column: str,
    new_column: str,
    compute: Callable[[pa.Array], pa.Array],
    *,
    resume: bool = False,
    show_progress: bool | None = None,
    desc: str = "rows",
) -> int:
    """Write ``inputs`` plus ``new_column = compute(column)`` to ``output`` (Parquet); return the row count.

    ``compute`` gets one record batch's column (``pa.StringArray``, nulls included) and must return an
    array of the same length. All input columns are kept, in order; the new column comes last. Finished
    batches are checkpointed (:mod:`sqlml.jobs.checkpoint`): after a crash or Ctrl-C, ``resume=True``
    continues without recomputing them. The output appears only when every row is done.
    """
    from sqlml.jobs.checkpoint import PartCheckpoint

    files = expand_inputs(inputs)
    dataset = open_dataset(files, column)
    if new_column in dataset.schema.names:
        raise InvalidArgumentError(f"the input already has a column {new_column!r}; pick another name for the output column")
    check_writable(output)
    manifest = {"inputs": PartCheckpoint.describe_inputs(files), "column": column, "new_column": new_column,
                "operation": repr(compute), "batch_rows": READ_BATCH_ROWS}
    checkpoint = PartCheckpoint(output, manifest)
    checkpoint.start(resume)
    total = dataset.count_rows()
    with progress.progress_bar(total, desc, progress.enabled(show_progress, False)) as bar:
        for index, batch in enumerate(dataset.to_batches(batch_size=READ_BATCH_ROWS)):
            if not checkpoint.has(index, batch.num_rows):
                texts = batch.column(column).cast(pa.string())
                checkpoint.save(index, pa.Table.from_batches([batch]).append_column(new_column, compute(texts)))
            bar.update(batch.num_rows)
    written = _concatenate(checkpoint.parts(), output, dataset.schema, new_column)
    checkpoint.remove()
    return written


def _concatenate(parts: list[Path], output: str | os.PathLike[str], schema: pa.Schema, new_column: str) -> int:
    """Join the parts, in order, into ``output`` (atomically); an empty input gives an empty file."""
    written = 0
    with atomic_path(output) as tmp:
        if not parts:
            pq.write_table(schema.empty_table().append_column(new_column, pa.array([], pa.null())), tmp)
            return 0
        with pq.ParquetWriter(tmp, pq.read_schema(parts[0]), compression="zstd") as writer:
            for part in parts:
                table = pq.read_table(part)
                writer.write_table(table)
                written += table.num_rows
    return written


def run_column_job(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    op_name: str,
    column: str,
    new_column: str,
    options: dict[str, Any] | None = None,
    *,
    resume: bool = False,
    show_progress: bool | None = None,
) -> int:
    """Add ``new_column = op(column)`` to Parquet inputs, written atomically to one file; return rows written.

    ``op_name`` and ``options`` are those of :class:`sqlml.jobs.column.ColumnOp`. ``resume`` continues an
    interrupted run into the same output (:mod:`sqlml.jobs.checkpoint`).
    """
    from sqlml.jobs.column import ColumnOp

    op = ColumnOp(op_name, dict(options or {}))
    return map_parquet(inputs, output, column, new_column, op, resume=resume, show_progress=show_progress, desc=op_name)


def embed_parquet(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    column: str,
    *,
    new_column: str = "embedding",
    model: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    cache: bool | None = None,
    on_error: str = "raise",
) -> int:
    """Add an embedding column (``FixedSizeList<float32, d>``; null text → null) to Parquet files.

    ``on_error='null'`` writes NULL for rows whose text makes the model fail (see docs/reliability.md).
    """
    options = {"model": model, "device": device, "batch_size": batch_size, "cache": cache, "on_error": on_error}
    return run_column_job(inputs, output, "embed", column, new_column, options, show_progress=show_progress)


def summarize_parquet(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    column: str,
    *,
    n: int = 3,
    new_column: str = "summary",
    model: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    on_error: str = "raise",
) -> int:
    """Add an extractive summary column (``pa.string()``, ``n`` sentences; null/empty text → null).

    ``on_error='null'`` writes NULL for rows whose text makes the model fail (see docs/reliability.md).
    """
    options = {"n": n, "model": model, "device": device, "batch_size": batch_size, "on_error": on_error}
    return run_column_job(inputs, output, "summarize", column, new_column, options, show_progress=show_progress)
