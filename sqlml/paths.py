"""The one path policy: every file or folder a user names passes :func:`check_user_path` before sqlml touches it.

Two rules apply, in this order; a refusal reads the same whether the path exists or not:

1. **DuckDB's sandbox**, inside a SQL query (:func:`query_sandbox`): while the database's
   ``enable_external_access`` is off, a path is refused unless it lies under one of its
   ``allowed_directories`` or is one of its ``allowed_paths`` (made absolute, then checked again with
   symbolic links resolved), decided on the name as written before any file-system call on it. A name
   that is no path at all (a hub id) is refused too: only ``'default'``, registered names, trained
   classifiers and the connection's own model stay usable. Where the settings cannot be read
   (:data:`UNREADABLE`), every path is refused alike.
2. **``SQLML_ALLOW_PATHS``**: the folders (``os.pathsep``-separated) user paths must lie in, after resolving
   symbolic links; ``none`` permits no path at all (decided without a look at the path). Unset or empty:
   any path.

Names longer than a file system takes (4,096 bytes, or 255 for one folder or file name) are refused with
an :class:`~sqlml.errors.InvalidArgumentError` instead of the operating system's ``OSError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from sqlml.errors import InvalidArgumentError, PathNotAllowedError

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
ENV = "SQLML_ALLOW_PATHS"


@dataclass(frozen=True)
class Sandbox:
    """DuckDB's file-system settings of one database: ``external_access`` and the exceptions to it (absolute paths)."""

    external_access: bool = True
    allowed_directories: tuple[str, ...] = ()
    allowed_paths: tuple[str, ...] = ()
    unreadable: bool = False  # the settings could not be read: permit nothing (fail closed)

    def permits(self, absolute: str) -> bool:
        """Whether the normalised absolute path ``absolute`` may be read or written."""
        if self.external_access:
            return True
        folders = (os.path.normpath(d) for d in self.allowed_directories)
        return absolute in {os.path.normpath(p) for p in self.allowed_paths} or any(
            absolute == d or absolute.startswith(d.rstrip(os.sep) + os.sep) for d in folders
        )


#: The sandbox of a database whose settings sqlml cannot read (its registered connections are all closed).
UNREADABLE = Sandbox(external_access=False, unreadable=True)


@dataclass(frozen=True)
class _Active:
    read: Callable[[], Sandbox]
    trusted: frozenset[str]


_active: ContextVar[_Active | None] = ContextVar("sqlml_sandbox", default=None)


@contextmanager
def query_sandbox(read: Callable[[], Sandbox], trusted: Iterable[str] = ()) -> Iterator[None]:
    """Apply DuckDB's sandbox, as ``read()`` gives it, to every check made in this block (this thread, this context).

    ``read`` runs at each check of a name not in ``trusted`` (names the deployment chose in Python, such as
    the connection's own model), so a block that checks no such name reads nothing.
    """
    token = _active.set(_Active(read, frozenset(trusted)))
    try:
        yield
    finally:
        _active.reset(token)


def _shown(text: str) -> str:
    """``text`` for an error message, cut to 200 characters."""
    return text if len(text) <= 200 else text[:200] + "…"


def _check_length(text: str, purpose: str) -> None:
    size = len(os.fsencode(text))
    longest = max((len(os.fsencode(part)) for part in text.split(os.sep)), default=0)
    if size > MAX_PATH_BYTES or longest > MAX_NAME_BYTES:
        raise InvalidArgumentError(
            f"{purpose} {_shown(text)!r} is too long for a path: {size:,} bytes, the longest part {longest:,}; a path "
            f"holds at most {MAX_PATH_BYTES:,} bytes and each folder or file name at most {MAX_NAME_BYTES}: check the argument"
        )


def check_sandbox(name: str | os.PathLike[str], purpose: str, hint: str) -> None:
    """Refuse ``name`` when the current query's DuckDB sandbox does not permit it (no-op outside SQL).

    Also for paths sqlml chooses itself but writes on a user's behalf (a trained classifier's folder).
    """
    text = os.fspath(name)
    active = _active.get()
    if active is None or text in active.trusted:
        return
    sandbox = active.read()
    if sandbox.external_access:
        return
    if sandbox.unreadable:
        raise PathNotAllowedError(
            f"{purpose} {_shown(text)!r} is not allowed: sqlml cannot read DuckDB's sandbox settings (enable_external_access) "
            "of this database, as every connection that sqlml.connect or sqlml.register opened on it is closed; query through "
            f"such a connection (or pass this one to sqlml.register), or {hint}"
        )
    absolute = os.path.normpath(os.path.abspath(os.path.expanduser(text)))
    if sandbox.permits(absolute) and sandbox.permits(os.path.realpath(absolute)):  # the second look follows links
        return
    raise PathNotAllowedError(
        f"{purpose} {_shown(text)!r} is not allowed: DuckDB's enable_external_access is off for this database and the "
        f"path is not under its allowed_directories or in its allowed_paths; {hint}, or have the administrator add "
        "its folder to allowed_directories before switching external access off"
    )


def check_user_path(name: str | os.PathLike[str], purpose: str, hint: str) -> Path:
    """Apply the policy (module doc) to a path a user named; return it absolute, symbolic links resolved.

    ``purpose`` names what the path is for (``'output file'``); ``hint`` says what to use instead. Raises
    :class:`~sqlml.errors.PathNotAllowedError` (a ``PermissionError``) naming the rule, or
    :class:`~sqlml.errors.InvalidArgumentError` for a name too long to be a path.
    """
    text = os.fspath(name)
    _check_length(text, purpose)
    check_sandbox(text, purpose, hint)
    return _check_allow_paths(text, purpose, hint)


def permitted_path(name: str, purpose: str, hint: str) -> Path | None:
    """:func:`check_user_path` for a name that may also be something else (a hub id, a classifier name).

    ``None`` where ``SQLML_ALLOW_PATHS`` excludes it, so the caller reads it as no path; DuckDB's sandbox
    and the length limit still raise.
    """
    _check_length(name, purpose)
    check_sandbox(name, purpose, hint)
    try:
        return _check_allow_paths(name, purpose, hint)
    except PathNotAllowedError:
        return None


def _check_allow_paths(text: str, purpose: str, hint: str) -> Path:
    allowed = os.environ.get(ENV, "").strip()
    if allowed.lower() == "none":
        raise _outside(text, None, purpose, allowed, hint)  # decided without looking at the path
    resolved = Path(text).expanduser().resolve()
    if not allowed:
        return resolved
    roots = [Path(p).expanduser().resolve() for p in allowed.split(os.pathsep) if p]
    if any(resolved == root or root in resolved.parents for root in roots):
        return resolved
    raise _outside(text, resolved, purpose, allowed, hint)


def _outside(text: str, resolved: Path | None, purpose: str, allowed: str, hint: str) -> PathNotAllowedError:
    where = f" (resolved: {str(resolved)!r})" if resolved is not None and str(resolved) != text else ""
    return PathNotAllowedError(
        f"{purpose} {_shown(text)!r}{where} is outside the folders {ENV} permits ({allowed!r}); {hint}, "
        f"or ask an administrator to widen {ENV}"
    )


def check_output_path(target: str | os.PathLike[str], kind: str = "file") -> Path:
    """:func:`check_user_path` for an output ``kind`` (``'file'`` or ``'folder'``) a user named, before anything is written."""
    return check_user_path(target, f"output {kind}", "write it into a folder that the setting lists")
