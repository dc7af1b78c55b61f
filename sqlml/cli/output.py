"""Writing query results: table text for people, csv/json/jsonl/parquet for programs.

The user's SQL runs as written (every statement, in order; the last one's result is written), so its
errors quote the user's own text. Files are written by DuckDB's ``COPY`` from that result to a partial
file that :mod:`sqlml.atomic` renames into place, so a failed query leaves no partial output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import duckdb

from sqlml.atomic import atomic_path
from sqlml.errors import InvalidArgumentError
from sqlml.paths import check_output_path
from sqlml.sql.quoting import quote_literal

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}
#: The name the result goes by inside the ``COPY`` statement (a name of that one statement only).
_RESULT = "_sqlml_query_result"


def show_duckdb_progress(con: duckdb.DuckDBPyConnection, progress: bool, path: str | None) -> None:
    """Turn DuckDB's own progress bar on with ``progress``, except while the result goes to a stdout that is not a
    terminal: DuckDB draws that bar on stdout, where it would land inside the CSV or JSON a program reads."""
    on = progress and (path is not None or sys.stdout.isatty())
    con.execute(f"SET enable_progress_bar = {'true' if on else 'false'}")


def write_query(
    con: duckdb.DuckDBPyConnection, sql: str, fmt: str = "table", path: str | None = None, stream: IO[str] | None = None
) -> None:
    """Run ``sql`` on ``con`` and write its result in ``fmt`` to ``path`` (atomically) or ``stream``.

    ``sql`` may hold several statements: all run, in order, and the last one's result is written (a
    last statement without a result writes nothing to ``stream``, and is an error with ``path``).
    ``table`` renders DuckDB's box table (stdout only); ``parquet`` needs ``path``.
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "table" and path is not None:
        raise InvalidArgumentError("format 'table' is for the terminal; use csv, json, jsonl or parquet with an output file")
    if fmt == "parquet" and path is None:
        raise InvalidArgumentError("format 'parquet' is binary; give an output file with -o OUT.parquet")
    if path is not None:
        check_output_path(path)
    result = _run(con, sql)
    if result is None:
        if path is not None:
            raise InvalidArgumentError(f"the SQL's last statement returns no rows to write to {path!r}; end it with a SELECT")
        return
    out = stream or sys.stdout
    if fmt == "table":
        out.write(str(result))
        return
    if path is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / f"result.{fmt}"
            _copy(result, fmt, file)
            out.write(file.read_text(encoding="utf-8"))
        return
    with atomic_path(path) as tmp:
        _copy(result, fmt, tmp)


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run every statement of ``sql`` but the last; the last one's result (``None``: ``sql`` has no statement)."""
    statements = con.extract_statements(sql)
    if not statements:
        return None
    for statement in statements[:-1]:
        con.execute(statement).complete()
    return con.sql(_without_terminator(statements[-1].query))


def _without_terminator(statement: str) -> str:
    """``statement`` without its closing ``;`` and what follows it: DuckDB nests a relation's text in
    parentheses when it writes the relation, where a ``;`` is a syntax error."""
    raw = statement.encode("utf-8")  # the tokenizer's positions count bytes
    code = [position for position, kind in duckdb.tokenize(statement) if kind != duckdb.token_type.comment]
    if code and raw[code[-1]:code[-1] + 1] == b";":
        return raw[: code[-1]].decode("utf-8")
    return statement


def _copy(result: duckdb.DuckDBPyRelation, fmt: str, file: Path) -> None:
    """Write ``result`` to ``file`` in ``fmt`` with DuckDB's ``COPY`` (the user's SQL is not parsed again)."""
    result.query(_RESULT, f"COPY (FROM {_RESULT}) TO {quote_literal(file)} ({_COPY_OPTIONS[fmt]})")
