"""Per-connection settings shared by every UDF of one :func:`sqlml.register` call, and DuckDB's sandbox per query."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from sqlml import paths
from sqlml.config import Settings
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import InvalidArgumentError

#: What ``sqlml._sqlml_sandbox()`` (udfs/_sandbox.sql) gives: the database's settings, read by DuckDB per query.
SANDBOX_SQL_TYPE = "STRUCT(external_access BOOLEAN, allowed_directories VARCHAR[], allowed_paths VARCHAR[])"
_READ_SANDBOX = "SELECT current_setting('enable_external_access'), current_setting('allowed_directories'), current_setting('allowed_paths')"


class SandboxState:
    """DuckDB's sandbox as the database last showed it. Once external access is off it stays off (DuckDB cannot
    switch it back on, nor change the allowed folders then), so an argument forged in a call of a private
    ``_sqlml_*`` function cannot reopen it."""

    def __init__(self, initial: paths.Sandbox) -> None:
        self._known = initial
        self._lock = threading.Lock()

    def observe(self, reading: dict[str, Any] | None) -> paths.Sandbox:
        """The sandbox of one query from the macro's ``reading`` (``None``: no rows), never laxer than one seen before."""
        with self._lock:
            if self._known.external_access and reading is not None and reading["external_access"] is False:
                self._known = paths.Sandbox(False, tuple(reading["allowed_directories"] or ()), tuple(reading["allowed_paths"] or ()))
            return self._known


@dataclass(frozen=True)
class SqlContext:
    """The connection's :class:`~sqlml.config.Settings`, the width of its ``embed`` (``FLOAT[dimension]``) and its
    database's sandbox state (not part of equality: the database's, not the settings')."""

    settings: Settings
    dimension: int
    sandbox_state: SandboxState = field(default_factory=lambda: SandboxState(paths.Sandbox()), compare=False)

    @classmethod
    def create(cls, settings: Settings, con: duckdb.DuckDBPyConnection) -> SqlContext:
        """Resolve the default model's dimension (read from its files; the model loads only if they do not say)
        and read ``con``'s sandbox as it is now."""
        from sqlml.models.dimension import read_dimension
        from sqlml.models.registry import resolve

        dimension = read_dimension(resolve(settings.model).location)
        if dimension is None:
            dimension = runtime_for(settings).dimension
        access, directories, files = con.execute(_READ_SANDBOX).fetchone() or (True, [], [])
        return cls(settings, dimension, SandboxState(paths.Sandbox(bool(access), tuple(directories or ()), tuple(files or ()))))

    def sandbox(self, readings: pa.Array | pa.ChunkedArray) -> AbstractContextManager[None]:
        """DuckDB's sandbox for the path checks of one UDF call; ``readings`` is the call's ``sqlml._sqlml_sandbox()``
        column (the same value in every row). The connection's own model stays usable."""
        reading = readings[0].as_py() if len(readings) else None
        return paths.query_sandbox(self.sandbox_state.observe(reading), trusted=(self.settings.model,))

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
