"""Column jobs over Parquet files: read in record batches, add a computed column, write atomically.

Several input files are combined by column name, as DuckDB's ``union_by_name`` does: a column missing
from a file is NULL for its rows, and types are widened where Arrow can (``int32`` + ``int64`` →
``int64``). The output goes through :mod:`sqlml.atomic` (a partial file beside the target, renamed into
place only when every row is done), so a failed or killed run never leaves a partial file under the
requested name.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sqlml import progress
from sqlml.atomic import atomic_path, check_writable
from sqlml.errors import InputFileError, InvalidArgumentError
from sqlml.on_error import describe, raw_value
from sqlml.ops.inputs import as_string_array, invalid_utf8_rows, is_text_type
from sqlml.paths import check_output_path

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
    """Open Parquet files as one dataset whose schema unites theirs by column name; check ``column`` holds text.

    Every file must have ``column``; a column of the other files that one lacks reads as NULL there.
    Raises :class:`InputFileError` naming the file for a folder, pipe or device (refused before it is opened),
    an unreadable file, a missing text column, or a column whose types in two files cannot be combined.
    """
    schemas = {}
    for file in files:
        _check_regular_file(file)
        try:
            schemas[file] = pq.read_schema(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(f"cannot read {file!r} as Parquet: {exc}") from exc
    schema = _unite(schemas)
    if column not in schema.names:
        raise InputFileError(f"column {column!r} is not in the input; its columns are: {', '.join(schema.names)}")
    for file, file_schema in schemas.items():
        if column not in file_schema.names:
            raise InputFileError(
                f"column {column!r} is not in {file!r} (its columns are: {', '.join(file_schema.names)}), although other "
                "inputs have it; every input file needs the text column: add it to that file or leave the file out"
            )
    kind = schema.field(column).type
    if not is_text_type(kind):
        raise InputFileError(f"column {column!r} has type {kind}, not text; choose a string column or cast it first")
    return ds.dataset(files, schema=schema, format="parquet")


def _check_regular_file(file: str) -> None:
    """Refuse a folder, pipe, socket or device before opening it: reading a pipe waits for a writer, even past Ctrl-C."""
    try:
        mode = os.stat(file).st_mode
    except OSError as exc:
        raise InputFileError(f"cannot read {file!r} as Parquet: {exc.strerror}") from exc
    if stat.S_ISDIR(mode):
        raise InputFileError(
            f"input {file!r} is a folder, not a Parquet file; name its files instead, e.g. {os.path.join(file, '*.parquet')!r}")
    if not stat.S_ISREG(mode):
        raise InputFileError(
            f"input {file!r} is not a regular file (a pipe, socket or device); sqlml reads Parquet files only: save the data "
            "to a file and name that")


def check_output_apart(files: list[str], output: str | os.PathLike[str]) -> None:
    """Refuse an output (a file, or a folder the Ray engine replaces) that is one of the input ``files`` or holds one.

    Links are followed, so a link to an input is that input. Raises :class:`InvalidArgumentError` before any work.
    """
    target = Path(output).resolve()
    for file in files:
        source = Path(file).resolve()
        if source == target:
            raise InvalidArgumentError(
                f"output {os.fspath(output)!r} is the input {file!r}, which writing the output would replace; choose another output file")
        if target in source.parents:
            raise InvalidArgumentError(
                f"output folder {os.fspath(output)!r} holds the input {file!r}, which replacing the folder would delete; "
                "choose another output folder"
            )


def read_text_table(files: list[str], column: str) -> pa.Table:
    """Every row of the Parquet ``files`` (united by :func:`open_dataset`) as one table, ``column`` as ``pa.string()``.

    A binary ``column`` is read as text, as the column jobs read it; its bytes are not checked here, so the
    operation's ``on_error`` policy names or NULLs a row that is not UTF-8. NULL stays NULL.
    """
    table = open_dataset(files, column).to_table()
    position = table.schema.get_field_index(column)
    return table.set_column(position, column, as_string_array(table.column(column), what=f"column {column!r}"))


def read_labelled(files: list[str], text_column: str, label_column: str, function: str) -> tuple[pa.StringArray, pa.StringArray]:
    """``(texts, labels)`` of the Parquet ``files``, for training: two string arrays of one length, NULL kept.

    A label column of numbers, booleans or dates is read as their text. Raises :class:`InputFileError` for a
    missing label column, one that is not a scalar, and the first row of either column that is not valid
    UTF-8 (named with its position among all input rows and a preview, by ``function``).
    """
    dataset = open_dataset(files, text_column)
    if label_column not in dataset.schema.names:
        raise InputFileError(f"column {label_column!r} is not in the input; its columns are: {', '.join(dataset.schema.names)}")
    table = dataset.to_table(columns=[text_column, label_column])
    labels = table.column(label_column)
    if not is_text_type(labels.type):
        try:
            labels = labels.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputFileError(
                f"{function}: column {label_column!r} has type {labels.type}, which cannot be read as labels; choose a column "
                "of text or numbers, or cast it first") from exc
    return _utf8(table.column(text_column), text_column, function), _utf8(labels, label_column, function)


def _utf8(values: pa.ChunkedArray, column: str, function: str) -> pa.StringArray:
    """``values`` (text or binary) as one string array; raises :class:`InputFileError` naming the first row that is not UTF-8."""
    texts = as_string_array(values, what=f"column {column!r}")
    bad = invalid_utf8_rows(texts)
    if bad:
        raise InputFileError(
            f"{function}: row {bad[0] + 1} of {len(texts)} in column {column!r} ({describe(raw_value(texts, bad[0]))}) is not "
            "valid UTF-8 (bytes that do not decode are shown as \ufffd); fix or filter that row")
    return texts


def _unite(schemas: dict[str, pa.Schema]) -> pa.Schema:
    """The files' schemas united by name: the first file's columns in order, then each new one as met."""
    files = list(schemas)
    united = schemas[files[0]]
    for file in files[1:]:
        try:
            united = _unify(united, schemas[file])
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            raise InputFileError(_clash(schemas, united, file, exc)) from None
    return united


def _unify(*schemas: pa.Schema) -> pa.Schema:
    return pa.unify_schemas(list(schemas), promote_options="permissive")


def _clash(schemas: dict[str, pa.Schema], united: pa.Schema, file: str, exc: Exception) -> str:
    """The error message for ``file``, whose schema does not unite with ``united`` (the files before it, united)."""
    for field in schemas[file]:
        if field.name not in united.names:
            continue
        have = united.field(field.name)
        try:
            _unify(pa.schema([have]), pa.schema([field]))
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            earlier = [f for f in list(schemas)[: list(schemas).index(file)] if field.name in schemas[f].names]
            other = next((f for f in earlier if schemas[f].field(field.name).type == have.type), earlier[0])
            return (
                f"column {field.name!r} has type {have.type} in {other!r} but {field.type} in {file!r}, and the two cannot "
                "be combined; cast the column to one type in the files, or process them separately"
            )
    return f"cannot combine the columns of {file!r} with those of the inputs before it ({exc}); make their schemas agree"


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
    whole: bool = False,
) -> int:
    """Write ``inputs`` plus ``new_column = compute(column)`` to ``output`` (Parquet); return the row count.

    ``compute`` gets one record batch's column (``pa.StringArray``, nulls included) and must return an
    array of the same length. All input columns are kept, in order; the new column comes last. Finished
    batches are checkpointed (:mod:`sqlml.jobs.checkpoint`): after a crash or Ctrl-C, ``resume=True``
    continues without recomputing them. The output appears only when every row is done; an output that is
    one of the inputs is refused (:func:`check_output_apart`). ``whole``: ``compute`` gets the whole column at
    once, for an answer that depends on every row (refined zero-shot labels): every row is in memory and there
    are no checkpoints (``resume`` does not apply).
    """
    from sqlml.jobs.checkpoint import PartCheckpoint

    check_output_path(output)
    files = expand_inputs(inputs)
    dataset = open_dataset(files, column)
    check_output_apart(files, output)
    if new_column in dataset.schema.names:
        raise InvalidArgumentError(f"the input already has a column {new_column!r}; pick another name for the output column")
    check_writable(output)
    if whole:
        table = dataset.to_table()
        texts = as_string_array(table.column(column), what=f"column {column!r}")
        with atomic_path(output) as tmp:
            pq.write_table(table.append_column(new_column, compute(texts)), tmp, compression="zstd")
        return table.num_rows
    manifest = {"inputs": PartCheckpoint.describe_inputs(files), "column": column, "new_column": new_column,
                "operation": repr(compute), "batch_rows": READ_BATCH_ROWS}
    checkpoint = PartCheckpoint(output, manifest)
    checkpoint.start(resume)
    total = dataset.count_rows()
    with progress.progress_bar(total, desc, progress.enabled(show_progress, False)) as bar:
        for index, batch in enumerate(dataset.to_batches(batch_size=READ_BATCH_ROWS)):
            if not checkpoint.has(index, batch.num_rows):
                texts = as_string_array(batch.column(column), what=f"column {column!r}")
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
