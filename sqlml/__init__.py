"""sqlml: model inference as plain SQL.

>>> import sqlml
>>> con = sqlml.connect()                         # duckdb connection with every function registered
>>> con.sql("SELECT embed('hello world')").fetchall()   # [([0.01, ...],)]: FLOAT[384]
>>> sqlml.embed(["a text", "another"])            # numpy (2, 384)

Heavy libraries (torch, sentence-transformers) load on first model use, never on import.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sqlml.errors import (
    ConfigError,
    InputFileError,
    InvalidArgumentError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    RowFailedError,
    SqlmlError,
)

__version__ = "0.1.0"

# public name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY = {
    "connect": "sqlml.sql",
    "register": "sqlml.sql",
    "cursor": "sqlml.sql",
    "embed": "sqlml.ops.guarded",
    "list_models": "sqlml.models.catalog",
    "register_model": "sqlml.models.registry",
    "embed_parquet": "sqlml.parquet_jobs",
    "summarize": "sqlml.ops.guarded",
    "summarize_explain": "sqlml.ops.guarded",
    "explain_table": "sqlml.display",
    "summarize_parquet": "sqlml.parquet_jobs",
    "relevance": "sqlml.ops.guarded",
    "top_k_sentences": "sqlml.ops.guarded",
    "search": "sqlml.ops.relevance",
    "cache_info": "sqlml.engine.cache",
    "clear_cache": "sqlml.engine.cache",
    "classify": "sqlml.ops.guarded",
    "classify_scores": "sqlml.ops.guarded",
    "train_classifier": "sqlml.ops.train",
    "stats": "sqlml.counters",
}
_RENAMED = {"register_model": "register_alias"}

__all__ = [
    "ConfigError",
    "InputFileError",
    "InvalidArgumentError",
    "MissingExtraError",
    "ModelLoadError",
    "ModelNotFoundError",
    "RowFailedError",
    "SqlmlError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlml' has no attribute {name!r}")
    value = getattr(import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
