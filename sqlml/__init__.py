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
    IndexStoreError,
    InputFileError,
    InvalidArgumentError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    PathNotAllowedError,
    RowFailedError,
    SqlmlError,
    SqlmlWarning,
)
from sqlml.version import __version__

# public name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY = {
    "connect": "sqlml.sql",
    "register": "sqlml.sql",
    "cursor": "sqlml.sql",
    "embed": "sqlml.api",
    "list_models": "sqlml.models.catalog",
    "register_model": "sqlml.models.registry",
    "embed_parquet": "sqlml.jobs.parquet",
    "summarize": "sqlml.api",
    "summarize_explain": "sqlml.api",
    "explain_table": "sqlml.display",
    "summarize_parquet": "sqlml.jobs.parquet",
    "relevance": "sqlml.api",
    "top_k_sentences": "sqlml.api",
    "search": "sqlml.api",
    "cache_info": "sqlml.engine.cache",
    "clear_cache": "sqlml.engine.cache",
    "classify": "sqlml.api",
    "classify_scores": "sqlml.api",
    "train_classifier": "sqlml.ops.classify.train",
    "stats": "sqlml.engine.counters",
    "Index": "sqlml.index",
    "list_indexes": "sqlml.index",
}
_RENAMED = {"register_model": "register_alias"}

__all__ = [
    "ConfigError",
    "IndexStoreError",
    "InputFileError",
    "InvalidArgumentError",
    "MissingExtraError",
    "ModelLoadError",
    "ModelNotFoundError",
    "PathNotAllowedError",
    "RowFailedError",
    "SqlmlError",
    "SqlmlWarning",
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
