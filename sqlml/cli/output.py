"""Writing query results: table text for people, csv/json/jsonl/parquet for programs.

Files are written through DuckDB's ``COPY`` to a temporary file and renamed into place, so a failed
query leaves no partial output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import duckdb

from sqlml.errors import InvalidArgumentError
from sqlml.jobs.parquet import atomic_path
from sqlml.sql.quoting import quote_literal

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}


def write_query(
    con: duckdb.DuckDBPyConnection, sql: str, fmt: str = "table", path: str | None = None, stream: IO[str] | None = None
) -> None:
    """Run ``sql`` on ``con`` and write its result in ``fmt`` to ``path`` (atomically) or ``stream``.

    ``table`` renders DuckDB's box table (stdout only); ``parquet`` needs ``path``.
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = stream or sys.stdout
    if fmt == "table":
        if path is not None:
            raise InvalidArgumentError("format 'table' is for the terminal; use csv, json, jsonl or parquet with an output file")
        out.write(str(con.sql(sql)))
        return
    if fmt == "parquet" and path is None:
        raise InvalidArgumentError("format 'parquet' is binary; give an output file with -o OUT.parquet")
    target = path if path is not None else None
    if target is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / f"result.{fmt}"
            _copy(con, sql, fmt, file)
            out.write(file.read_text(encoding="utf-8"))
        return
    with atomic_path(target) as tmp:
        _copy(con, sql, fmt, tmp)


def _copy(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, file: Path) -> None:
    query = sql.strip().rstrip(";")
    con.execute(f"COPY ({query}) TO {quote_literal(file)} ({_COPY_OPTIONS[fmt]})").fetchall()
