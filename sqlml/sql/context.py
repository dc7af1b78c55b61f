"""Per-connection settings shared by every UDF of one :func:`sqlml.register` call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlml.config import Settings
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import InvalidArgumentError


@dataclass(frozen=True)
class SqlContext:
    """The connection's :class:`~sqlml.config.Settings` and the width of its ``embed`` (``FLOAT[dimension]``)."""

    settings: Settings
    dimension: int

    @classmethod
    def create(cls, settings: Settings) -> SqlContext:
        """Resolve the default model's dimension (read from its files; the model loads only if they do not say)."""
        from sqlml.models.dimension import read_dimension
        from sqlml.models.registry import resolve

        dimension = read_dimension(resolve(settings.model).location)
        if dimension is None:
            dimension = runtime_for(settings).dimension
        return cls(settings, dimension)

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
