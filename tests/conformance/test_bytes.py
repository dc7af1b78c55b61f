"""Arbitrary bytes as text (invalid UTF-8, encoded surrogates, NULL) through every door that takes bytes.

SQL gets them in a registered Arrow table, Python as a binary Arrow array (or as ``str`` decoded with
``surrogateescape``), the CLI in a binary Parquet column. Every call gives one output per row, in order,
NULL for NULL; under ``'null'`` the rows that are not UTF-8 give NULL and every other row what the Python
API gives for its decoded text; under ``'raise'`` the call gives those same results or fails naming the
first row that is not UTF-8. Ray reads Arrow through the same coercion and row policy as the CLI's column
jobs; it is left out here to save its actor starts (see ``doors.RAY_SUBSET``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sqlml

from .cases import VARIANTS, call
from .compare import assert_same_rows
from .doors import ROW_FUNCTIONS, CliDoor, _sql_result, sql_text

#: one value variant per row function (the first of each in cases.VARIANTS)
FUNCTIONS = {function: args for _, function, args in reversed(VARIANTS)}
#: the functions with a CLI command of their own (the others go through `sqlml query`, where DuckDB's
#: Parquet reader refuses bytes that are not UTF-8 before sqlml sees them)
CLI_FUNCTIONS = ("embed", "summarize", "classify", "classify_scores")

ROW = st.none() | st.binary(max_size=24) | st.text(max_size=24).map(str.encode) | st.sampled_from(
    [b"\xff\xfe bad", b"\xed\xa0\x80 surrogate", b"cut \xc3", b"Fine text. Two sentences.", b""]
)
BAD_ROWS = [b"Fine text. About rates.", b"\xff\xfe bad", None, b"\xed\xa0\x80 surrogate", b"   "]


def strings(values: list[bytes | None]) -> pa.StringArray:
    """A ``pa.string()`` array of ``values`` unchecked, as DuckDB gets a registered table's column."""
    offsets = np.cumsum([0, *(len(v or b"") for v in values)], dtype=np.int32)
    validity = pa.array([v is not None for v in values]).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(values), [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(v or b"" for v in values))])


def decoded(value: bytes | None) -> str | None:
    """The text of a row that is UTF-8, else None."""
    try:
        return None if value is None else value.decode("utf-8")
    except UnicodeDecodeError:
        return None


class CliFailed(Exception):
    """``sqlml`` exited with an error (its output is the message)."""


def run_door(door: str, function: str, rows: list[bytes | None], args: dict[str, Any], as_str: bool, workdir: Path) -> list[Any]:
    """The door's result for ``rows`` (raises what the door raises; the CLI's error as :class:`CliFailed`)."""
    f = call(function, (), **args)
    if door == "sql":
        con = sqlml.connect()
        try:
            con.register("raw", pa.table({"id": pa.array(range(len(rows)), pa.int64()), "x": strings(rows)}))
            return _sql_result(f, con.sql(sql_text(f, args, "raw")))
        finally:
            con.close()
    if door == "python":
        texts = [None if r is None else r.decode("utf-8", "surrogateescape") for r in rows] if as_str else pa.array(rows, pa.binary())
        return _python_values(function, texts, args)
    cli = CliDoor({}, workdir)
    arguments, out = cli.command(call(function, tuple("" for _ in rows), **args))
    pq.write_table(pa.table({"id": pa.array(range(len(rows)), pa.int64()), "x": pa.array(rows, pa.binary())}), arguments[1])
    result = cli.invoke(arguments)
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), result.output
    if result.exit_code != 0:
        raise CliFailed(result.output)
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == list(range(len(rows))), "the CLI output reordered or dropped rows"
    return table.column({"embed": "embedding", "summarize": "summary", "classify": "label", "classify_scores": "scores"}[function]).to_pylist()


def _python_values(function: str, texts: Any, args: dict[str, Any]) -> list[Any]:
    values = getattr(sqlml, "embed" if function == "embed_list" else function)(texts, **args)
    if isinstance(values, np.ndarray):
        if values.ndim == 1:
            return [None if np.isnan(v) else float(v) for v in values]
        return [None if np.isnan(row).all() else [float(v) for v in row] for row in values]
    return values.to_pylist() if isinstance(values, pa.Array) else list(values)


DOORS = [(door, function) for door in ("sql", "python", "cli") for function in ROW_FUNCTIONS if door != "cli" or function in CLI_FUNCTIONS]


@pytest.mark.parametrize(("door", "function"), DOORS, ids=[f"{d}-{f}" for d, f in DOORS])
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=6), as_str=st.booleans())
@example(rows=BAD_ROWS, as_str=True)
def test_bytes_give_one_output_per_row_or_name_the_row(door: str, function: str, rows: list[bytes | None], as_str: bool, tmp_path: Path) -> None:
    args = FUNCTIONS[function]
    texts = [decoded(r) for r in rows]
    expected = _python_values(function, texts, args)  # the decodable rows' results, NULL for the others
    bad = [i for i, r in enumerate(rows) if r is not None and texts[i] is None]
    got = run_door(door, function, rows, {**args, "on_error": "null"}, as_str, tmp_path)
    assert len(got) == len(rows)
    assert_same_rows(function, got, expected, door, "python on the decodable rows")
    try:
        raised = run_door(door, function, rows, args, as_str, tmp_path)
    except (sqlml.SqlmlError, duckdb.Error, CliFailed) as exc:
        message = str(exc)
        assert bad, f"{door}: {function} failed on rows that are all UTF-8: {message}"
        assert f"row {bad[0] + 1} of {len(rows)}" in message and ("not valid UTF-8" in message or "not valid Unicode" in message), message
        return
    assert not bad, f"{door}: {function} gave {raised!r} for rows {bad} that are not UTF-8"
    assert_same_rows(function, raised, expected, door, "python on the decodable rows")
