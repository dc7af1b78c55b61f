"""The DuckDB front door: register sqlml's UDFs and macros on a connection.

Private Python UDFs (``_sqlml_*``, fixed signatures) are registered on the connection; the public
functions are macros read from ``udfs/*.sql`` and created in an attached in-memory catalog named
``sqlml``, which is appended to the connection's ``search_path``. So ``embed(x)``, ``x.embed()`` and
``sqlml.summarize(x)`` all resolve (``SUMMARIZE`` alone is a DuckDB keyword), and nothing is ever
written into the user's database file.
"""

from __future__ import annotations

from typing import Any

import duckdb

from sqlml.config import Settings
from sqlml.errors import SqlmlError
from sqlml.resources import udfs_dir
from sqlml.sql.adapter import row_udf
from sqlml.sql.context import SqlContext
from sqlml.sql.interrupts import track
from sqlml.sql.quoting import quote_identifier
from sqlml.sql.specs import SPECS, UdfSpec

CATALOG = "sqlml"


def connect(
    database: str = ":memory:",
    *,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    read_only: bool = False,
    config: dict[str, Any] | None = None,
    cache: bool | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with every sqlml function registered (see :func:`register`).

    ``database``/``read_only``/``config`` go to :func:`duckdb.connect`; the rest to :func:`register`.
    Close the connection when done (``with sqlml.connect() as con:`` does).
    """
    con = duckdb.connect(database, read_only=read_only, config=config or {})
    try:
        return register(
            con, model=model, device=device, dtype=dtype, batch_size=batch_size, max_batch_tokens=max_batch_tokens, cache=cache
        )
    except BaseException:
        con.close()
        raise


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
    cache: bool | None = None,
) -> duckdb.DuckDBPyConnection:
    """Add sqlml's functions to an existing connection and return it.

    ``model`` is the connection's default embedding model (its dimension fixes ``embed``'s
    ``FLOAT[d]`` type); ``device``, ``dtype``, ``batch_size`` and ``max_batch_tokens`` apply to every
    call made through this connection. ``cache`` switches the persistent embedding cache for this
    connection (default: ``SQLML_CACHE``, on; see :mod:`sqlml.engine.cache`). Calling it twice on one
    connection is an error.
    """
    attached = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    if CATALOG in attached:
        raise SqlmlError(
            f"this connection already has a database named {CATALOG!r} attached (sqlml was registered already, "
            f"or a user database uses that name); detach it first: DETACH {CATALOG}"
        )
    settings = Settings.resolve(model=model, device=device, dtype=dtype, batch_size=batch_size, max_batch_tokens=max_batch_tokens, cache=cache)
    ctx = SqlContext.create(settings)
    for spec in SPECS:
        _register(con, spec, ctx)
    con.execute(f"ATTACH ':memory:' AS {CATALOG} (READ_WRITE)")  # READ_WRITE: also on read-only connections
    for path in sorted(udfs_dir().glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))
    _append_search_path(con)
    track(con)  # Ctrl-C interrupts its queries promptly
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor of a registered connection, with sqlml's ``search_path`` (for use in another thread).

    DuckDB cursors share the database, UDFs and the ``sqlml`` catalog but not session settings, so a
    plain ``con.cursor()`` only resolves qualified names such as ``sqlml.embed(x)``.
    """
    new = con.cursor()
    _append_search_path(new)  # a cursor starts with default settings; querying `con` here could race its owner
    track(new)
    return new


def _register(con: duckdb.DuckDBPyConnection, spec: UdfSpec, ctx: SqlContext) -> None:
    """Create ``spec``'s UDF on ``con``: Arrow batches, NULLs passed through to the core (which keeps them NULL)."""
    udf = spec.udf(ctx) if spec.udf is not None else row_udf(spec, ctx)
    options: dict[str, Any] = {"side_effects": True} if spec.side_effects else {}
    if spec.arguments:
        options |= {"type": "arrow", "null_handling": "special"}
    con.create_function(spec.name, udf, [a.sql_type for a in spec.arguments], spec.returns(ctx), **options)


def _append_search_path(con: duckdb.DuckDBPyConnection) -> None:
    current = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    if not current:
        db, schema = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
        current = f"{quote_identifier(db)}.{quote_identifier(schema)}"
    con.execute("SET search_path = ?", [f"{current},{CATALOG}.main"])
