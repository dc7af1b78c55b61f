"""The DuckDB front door: register sqlml's UDFs and macros on a connection.

Private Python UDFs (``_sqlml_*``, fixed signatures) are registered on the connection; the public
functions are macros read from ``udfs/*.sql`` and created in an attached in-memory catalog named
``sqlml``, which is appended to the connection's ``search_path``. So ``embed(x)``, ``x.embed()`` and
``sqlml.summarize(x)`` all resolve (``SUMMARIZE`` alone is a DuckDB keyword), and nothing is ever
written into the user's database file.

UDFs and attached catalogs belong to the database, not to one connection: every connection to it
(``duckdb.connect`` of the same file in this process, cursors) sees them, also after the registering
connection is closed. DuckDB's catalog only borrows each UDF callable from the connection that created it,
which drops it on close, so this module keeps the callables referenced for the life of the process (a few
small closures per registered database); a later connection to the same database reuses them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
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
_MARKER = "_sqlml_registration"  # a macro in the catalog returning its registration's key: how a later connection knows it


@dataclass(frozen=True)
class _Registration:
    """The settings one database's UDFs were made with, and the callables DuckDB's catalog borrows."""

    ctx: SqlContext
    udfs: tuple[Callable[..., Any], ...]


_registrations: dict[str, _Registration] = {}
_lock = threading.Lock()  # one check-then-create per database when threads connect to the same file at once


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
    connection (default: ``SQLML_CACHE``, on; see :mod:`sqlml.engine.cache`).

    Functions belong to the database: a connection to a database that sqlml is registered on already
    (the same file opened again in this process) reuses them, and must then ask for the same settings.
    Calling it twice on one connection is an error.
    """
    settings = Settings.resolve(model=model, device=device, dtype=dtype, batch_size=batch_size, max_batch_tokens=max_batch_tokens, cache=cache)
    ctx = SqlContext.create(settings)
    with _lock:
        existing = _registration_of(con)
        if existing is None:
            _create(con, ctx)
        elif existing.ctx != ctx:
            raise SqlmlError(
                f"sqlml is already registered on this database (another connection in this process) with "
                f"{_differences(existing.ctx.settings, settings)}; DuckDB shares one set of functions between all "
                f"connections of a database: connect with the same settings, query through sqlml.cursor(connection) "
                f"of the open one, or close every connection to the database first"
            )
        (ctx if existing is None else existing.ctx).sandbox_state.watch(con)  # the UDFs read the sandbox through it
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


def _registration_of(con: duckdb.DuckDBPyConnection) -> _Registration | None:
    """The registration of ``con``'s database (``None``: none yet); raises if ``con`` has it already or a foreign ``sqlml`` is attached."""
    attached = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    if CATALOG not in attached:
        return None
    try:
        key = con.execute(f"SELECT {CATALOG}.main.{_MARKER}()").fetchall()[0][0]
    except duckdb.CatalogException:
        key = None
    if key not in _registrations:
        raise SqlmlError(
            f"a database named {CATALOG!r} that sqlml did not create is attached to this connection, and sqlml needs "
            f"that name for its functions; attach yours under another name: DETACH {CATALOG}, then ATTACH '<its file>' AS <other name>"
        )
    if f"{CATALOG}.main" in _search_path(con).split(","):
        raise SqlmlError("sqlml is already registered on this connection; use it as it is (its settings cannot change)")
    return _registrations[key]


def _create(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Create the UDFs (kept in :data:`_registrations`), the ``sqlml`` catalog with its macros, and its marker."""
    key = uuid.uuid4().hex
    udfs = tuple(spec.udf(ctx) if spec.udf is not None else row_udf(spec, ctx) for spec in SPECS)
    _registrations[key] = _Registration(ctx, udfs)
    for spec, udf in zip(SPECS, udfs, strict=True):
        _register(con, spec, ctx, udf)
    con.execute(f"ATTACH ':memory:' AS {CATALOG} (READ_WRITE)")  # READ_WRITE: also on read-only connections
    for path in sorted(udfs_dir().glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))
    con.execute(f"CREATE MACRO {CATALOG}.main.{_MARKER}() AS '{key}'")


def _register(con: duckdb.DuckDBPyConnection, spec: UdfSpec, ctx: SqlContext, udf: Callable[..., Any]) -> None:
    """Create ``spec``'s UDF on ``con``: Arrow batches, NULLs passed through to the core (which keeps them NULL)."""
    options: dict[str, Any] = {"side_effects": True} if spec.side_effects else {}
    if spec.arguments:
        options |= {"type": "arrow", "null_handling": "special"}
    con.create_function(spec.name, udf, [a.sql_type for a in spec.arguments], spec.returns(ctx), **options)


def _differences(registered: Settings, asked: Settings) -> str:
    """The settings that differ, as ``name=registered (this call: asked)``."""
    names = [field.name for field in fields(registered) if getattr(registered, field.name) != getattr(asked, field.name)]
    return ", ".join(f"{name}={getattr(registered, name)!r} (this call: {getattr(asked, name)!r})" for name in names)


def _search_path(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT current_setting('search_path')").fetchall()[0][0])


def _append_search_path(con: duckdb.DuckDBPyConnection) -> None:
    current = _search_path(con)
    if not current:
        db, schema = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
        current = f"{quote_identifier(db)}.{quote_identifier(schema)}"
    con.execute("SET search_path = ?", [f"{current},{CATALOG}.main"])
