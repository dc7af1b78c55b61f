"""Per-connection settings shared by every UDF of one :func:`sqlml.register` call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlml import config
from sqlml.engine.cache import EmbeddingCache, get_cache
from sqlml.engine.runtime import AnyRuntime, get_runtime
from sqlml.errors import InvalidArgumentError


@dataclass(frozen=True)
class SqlContext:
    """The connection's default model and runtime settings; ``dimension`` is its ``embed`` width."""

    model: str
    device: str | None
    dtype: str | None
    batch_size: int | None
    max_batch_tokens: int | None
    dimension: int
    #: Persistent embedding cache switch for this connection (``None`` → ``SQLML_CACHE``, on).
    cache: bool | None = None

    @classmethod
    def create(
        cls,
        *,
        model: str | None,
        device: str | None,
        dtype: str | None,
        batch_size: int | None,
        max_batch_tokens: int | None,
        cache: bool | None = None,
    ) -> SqlContext:
        """Resolve the default model and its dimension (read from its files; loaded only if they do not say)."""
        from sqlml.models.dimension import read_dimension
        from sqlml.models.registry import resolve

        name = config.default_model(model)
        dimension = read_dimension(resolve(name).location)
        if dimension is None:
            dimension = get_runtime(name, device, dtype, batch_size, max_batch_tokens).encoder.dimension
        return cls(name, device, dtype, batch_size, max_batch_tokens, dimension, cache)

    def runtime(self, model: str | None = None) -> AnyRuntime:
        """The runtime for ``model`` (``None`` → the connection's default) with this connection's settings."""
        return get_runtime(model or self.model, self.device, self.dtype, self.batch_size, self.max_batch_tokens)

    def embedding_cache(self) -> EmbeddingCache | None:
        """The embedding cache this connection uses, or ``None`` when caching is off."""
        return get_cache(self.cache, self.runtime().encoder.device)

    def embedding_runtime(self, model: str | None, function: str) -> AnyRuntime:
        """Like :meth:`runtime`, but refuse a model whose width differs from the connection's ``FLOAT[d]``."""
        runtime = self.runtime(model)
        if runtime.encoder.dimension != self.dimension:
            raise InvalidArgumentError(
                f"{function}: model {model!r} gives {runtime.encoder.dimension}-d vectors but this connection's "
                f"embed() returns FLOAT[{self.dimension}] (model {self.model!r}); use embed_list(text, {model!r}) "
                f"for a FLOAT[] of any width, or connect with sqlml.connect(model={model!r})"
            )
        return runtime
