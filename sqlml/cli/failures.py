"""What a CLI user sees when a command fails: one ``Error: ...`` line with the fix, never a traceback.

:func:`describe` is the CLI's one error formatter: sqlml's messages as they are, DuckDB's first line (and
the position in the user's own SQL), an ``OSError`` as its reason, its path and the fix, and anything else
as one line that says how to see the traceback (``SQLML_DEBUG=1``). Ctrl-C ends a command with
:class:`Interrupted` (exit code 130). Warnings show as one ``Warning: ...`` line each (:func:`show_warnings`).
"""

from __future__ import annotations

import errno
import warnings
from typing import IO, Any

import click

from sqlml import config
from sqlml.errors import SqlmlError, SqlmlWarning

#: Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130

#: Errors of writing (disk full, ``ulimit -f``) whose exception may not name the file: the output is named.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_FIXES = {
    errno.ENOSPC: "the disk is full: free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or write to another disk",
    errno.EFBIG: "the file grew past the size limit (ulimit -f) or the file system's limit: raise the limit or write elsewhere",
    errno.EACCES: "check its permissions, or choose a path you may read or write",
    errno.EPERM: "this path cannot be written (e.g. under /proc or /sys); choose a folder of your own",
    errno.EROFS: "that file system is read-only; choose a writable folder",
    errno.ENOENT: "check the path; its folder must exist and accept new files",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENAMETOOLONG: "the name is too long; use a shorter path or name",
}
_LONGEST_PATH = 120


class Interrupted(click.ClickException):
    """Ctrl-C stopped the command: one line on stderr and exit code 130."""

    exit_code = INTERRUPTED_EXIT_CODE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.message, err=file is None, file=file)


def interrupted(resumable: bool) -> Interrupted:
    """The :class:`Interrupted` of a command; ``resumable``: it keeps finished batches for ``--resume``."""
    return Interrupted("Interrupted; rerun with --resume to continue from the saved batches" if resumable else "Interrupted")


def show_warnings() -> None:
    """Inside ``warnings.catch_warnings()``: each warning reaches the user as one ``Warning: ...`` line on stderr.

    sqlml's own (an optional part such as the cache turned off) are always shown, never raised as errors.
    """
    warnings.filterwarnings("default", category=SqlmlWarning)
    warnings.showwarning = _warning_line


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: IO[str] | None = None,
                  line: str | None = None) -> None:
    """``warnings.showwarning`` for the CLI: the message on one line, without the source line Python would add."""
    click.echo(f"Warning: {' '.join(str(message).split())}", err=True)


def debugging() -> bool:
    """``SQLML_DEBUG=1``: unexpected errors keep their traceback."""
    return config.resolve("debug", None, False, config.parse_bool)


def from_duckdb(exc: BaseException) -> bool:
    """Whether ``exc`` is one of DuckDB's errors (its messages name the problem and the SQL position)."""
    return type(exc).__module__.startswith(("duckdb", "_duckdb"))


def describe(exc: BaseException, output: str | None = None, *, own_sql: bool = False) -> str:
    """The text after ``Error:`` for ``exc``; ``output``: the file the command writes, if any.

    ``own_sql``: the command ran the user's own SQL, so a DuckDB error keeps its position in it (``LINE n:``).
    """
    if isinstance(exc, SqlmlError):
        return str(exc)
    if from_duckdb(exc):
        return _duckdb_error(exc, own_sql)
    if isinstance(exc, OSError):
        return _os_error(exc, output)
    text = str(exc).strip().splitlines()
    detail = f": {text[0]}" if text else ""
    return f"unexpected {type(exc).__name__}{detail}; rerun with SQLML_DEBUG=1 to see the traceback, and please report it"


def _duckdb_error(exc: BaseException, own_sql: bool) -> str:
    """DuckDB's first line (what was wrong); the rest, such as candidate function lists, is DuckDB's internals."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    at = next((i for i, line in enumerate(lines) if line.startswith("LINE ")), None)
    position = lines[at : at + 2] if own_sql and at is not None else []  # the SQL line and its caret
    return "\n".join([lines[0], *position])


def _os_error(exc: OSError, output: str | None) -> str:
    """``OSError`` → its reason, the path it concerns (the output, for a full disk) and the fix."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    path = exc.filename if exc.filename is not None else (output if exc.errno in _WRITE_ERRNOS else None)
    where = f": {_short(str(path))!r}" if path is not None else ""
    fix = _FIXES.get(exc.errno or 0, "check the path and its permissions")
    return f"{reason}{where}; {fix}"


def _short(path: str) -> str:
    """``path``, its middle elided past :data:`_LONGEST_PATH` characters (one readable line)."""
    if len(path) <= _LONGEST_PATH:
        return path
    half = _LONGEST_PATH // 2
    return f"{path[:half]}...{path[-half:]}"
