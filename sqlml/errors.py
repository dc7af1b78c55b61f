"""The one error hierarchy of sqlml.

Every error a user can see derives from :class:`SqlmlError`. Each subclass also derives from the builtin
exception a Python user would catch for that kind of problem, so ``except ValueError`` keeps working.
Messages say what was wrong and how to fix it.
"""

from __future__ import annotations


class SqlmlError(Exception):
    """Root of every error raised by sqlml."""


class InvalidArgumentError(SqlmlError, ValueError):
    """An argument has a value sqlml cannot use (``n <= 0``, an empty label list, an unknown format)."""


class ConfigError(SqlmlError, ValueError):
    """A setting (argument or ``SQLML_*`` environment variable) has an invalid value."""


class ModelNotFoundError(SqlmlError, LookupError):
    """A model name resolves to nothing: not registered, not a directory, not in the Hugging Face cache."""


class ModelLoadError(SqlmlError, RuntimeError):
    """A model was found but could not be loaded (missing or corrupt files, unsupported format)."""


class PathNotAllowedError(SqlmlError, PermissionError):
    """A path the user named is outside what ``SQLML_ALLOW_PATHS`` or DuckDB's sandbox permits (:mod:`sqlml.paths`)."""


class MissingExtraError(SqlmlError, ImportError):
    """An optional dependency is missing; the message names the ``pip install 'sqlml[...]'`` command."""


class InputFileError(SqlmlError, FileNotFoundError):
    """An input file or column named by the user does not exist or has the wrong type."""


class RowFailedError(SqlmlError, RuntimeError):
    """One row's text made an operation fail under ``on_error='raise'``; the message names the row and the fix."""


class IndexStoreError(SqlmlError, RuntimeError):
    """A search index is damaged, built with another model, or being refreshed by another call; the message names the fix."""


class SqlmlWarning(UserWarning):
    """Root of sqlml's warnings: an optional part (the embedding cache) failed and was turned off; results are unaffected."""
