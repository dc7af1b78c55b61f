"""Column jobs over Parquet files: read in record batches, add a computed column, write atomically.

The output is written to a temporary file beside the target and renamed into place only when every
row is done, so a failed or killed run never leaves a partial file under the requested name.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

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


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` only if the block succeeds."""
    final = Path(target)
    if final.is_dir():
        raise InvalidArgumentError(f"output {str(final)!r} is a directory; give a file name such as {str(final / 'out.parquet')!r}")
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgumentError(f"cannot write {str(final)!r}: folder {str(parent)!r} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=parent)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {str(final)!r}: {exc.strerror}; choose a writable folder") from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
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
    show_progress: bool | None = None,
    desc: str = "rows",
) -> int:
    """Write ``inputs`` plus ``new_column = compute(column)`` to ``output`` (Parquet); return the row count.

    ``compute`` gets one record batch's column (``pa.StringArray``, nulls included) and must return an
    array of the same length. All input columns are kept, in order; the new column comes last.
    """
    dataset = open_dataset(expand_inputs(inputs), column)
    if new_column in dataset.schema.names:
        raise InvalidArgumentError(f"the input already has a column {new_column!r}; pick another name for the output column")
    total = dataset.count_rows()
    written = 0
    with atomic_path(output) as tmp, progress.progress_bar(total, desc, progress.enabled(show_progress, False)) as bar:
        writer: pq.ParquetWriter | None = None
        try:
            for batch in dataset.to_batches(batch_size=READ_BATCH_ROWS):
                texts = batch.column(column).cast(pa.string())
                table = pa.Table.from_batches([batch]).append_column(new_column, compute(texts))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
                written += batch.num_rows
                bar.update(batch.num_rows)
            if writer is None:  # no rows: still write a file with the right schema
                empty = dataset.schema.empty_table()
                writer = pq.ParquetWriter(tmp, empty.schema.append(pa.field(new_column, pa.null())), compression="zstd")
        finally:
            if writer is not None:
                writer.close()
    return written


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
) -> int:
    """Add an embedding column (``FixedSizeList<float32, d>``; null text → null) to Parquet files."""
    from sqlml.engine.cache import get_cache
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.embed import embed_array

    runtime = get_runtime(model, device, None, batch_size)
    store = get_cache(cache)
    return map_parquet(
        inputs, output, column, new_column, lambda texts: embed_array(texts, runtime, cache=store), show_progress=show_progress, desc="embed"
    )
