"""Quoting values into SQL text, for the few statements sqlml writes itself (search path, CLI queries)."""

from __future__ import annotations


def quote_literal(value: object) -> str:
    """``value`` as a SQL string literal: ``o'brien`` → ``'o''brien'``."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_identifier(identifier: str) -> str:
    """``identifier`` as a quoted SQL identifier, inner double quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'
