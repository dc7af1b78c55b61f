"""Per-connection settings shared by every UDF of one :func:`sqlml.register` call, and DuckDB's sandbox per query."""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import duckdb

from sqlml import paths
from sqlml.config import Settings
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import InvalidArgumentError

_READ_SANDBOX = "SELECT current_setting('enable_external_access'), current_setting('allowed_directories'), current_setting('allowed_paths')"


class SandboxState:
    """DuckDB's sandbox of one database, read by sqlml itself: nothing a query passes can change it.

    A UDF cannot run SQL on the connection that runs its query (that deadlocks), but a cursor of any registered
    connection is a connection of its own to the same database and reads the database-wide settings safely
    (about 0.4 ms, only where a call checks a name the connection did not choose). Once external access is off
    the reading is kept: DuckDB can neither switch it back on nor change the allowed folders then.
    """

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
        self._closed: paths.Sandbox | None = None
        self._lock = threading.Lock()

    def watch(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the settings through ``con`` (held weakly) from now on."""
        with self._lock:
            self._connections.add(con)

    def current(self) -> paths.Sandbox:
        """The database's sandbox now; :data:`~sqlml.paths.UNREADABLE` where every watched connection is closed."""
        with self._lock:
            if self._closed is not None:
                return self._closed
            connections = list(self._connections)
        for con in connections:
            try:
                with con.cursor() as cursor:
                    access, directories, files = cursor.execute(_READ_SANDBOX).fetchall()[0]
            except duckdb.Error:  # closed (also while reading): try the next one
                continue
            sandbox = paths.Sandbox(access is True, tuple(directories or ()), tuple(files or ()))
            if not sandbox.external_access:
                with self._lock:
                    self._closed = sandbox
            return sandbox
        return paths.UNREADABLE


@dataclass(frozen=True)
class SqlContext:
    """The connection's :class:`~sqlml.config.Settings`, the width of its ``embed`` (``FLOAT[dimension]``) and its
    database's sandbox state (not part of equality: the database's, not the settings')."""

    settings: Settings
    dimension: int
    sandbox_state: SandboxState = field(default_factory=SandboxState, compare=False)

    @classmethod
    def create(cls, settings: Settings) -> SqlContext:
        """Resolve the default model's dimension (read from its files; the model loads only if they do not say)."""
        from sqlml.models.dimension import read_dimension
        from sqlml.models.registry import resolve

        dimension = read_dimension(resolve(settings.model).location)
        if dimension is None:
            dimension = runtime_for(settings).dimension
        return cls(settings, dimension)

    def sandbox(self) -> AbstractContextManager[None]:
        """DuckDB's sandbox for the path checks of one UDF call. The connection's own model stays usable."""
        return paths.query_sandbox(self.sandbox_state.current, trusted=(self.settings.model,))

    def fixed_width_runtime(self, model: str | None, function: str) -> AnyRuntime:
        """The runtime of ``model``, refused when its width differs from the connection's ``FLOAT[d]``."""
        runtime = runtime_for(self.settings, model)
        if runtime.dimension != self.dimension:
            raise InvalidArgumentError(
                f"{function}: model {model!r} gives {runtime.dimension}-d vectors but this connection's "
                f"embed() returns FLOAT[{self.dimension}] (model {self.settings.model!r}); use embed_list(text, {model!r}) "
                f"for a FLOAT[] of any width, or connect with sqlml.connect(model={model!r})"
            )
        return runtime
