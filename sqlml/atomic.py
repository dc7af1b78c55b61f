"""The one atomic writer: an output appears whole under its name, or not at all.

Every output (a column job's Parquet file, a query result, a Ray output folder) is written under a hidden
name beside its target, ``.NAME.XXXX.partial``, and renamed into place only when complete. Partial files
and folders are created with the modes the user's umask gives (``0o666`` / ``0o777`` masked, not
``mkstemp``'s ``0o600``), so the renamed output has them too. The writing process holds an advisory lock
(``flock``) on its partial while it runs; a partial that no process holds is left over from a killed run,
and the next write to the same target removes it.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlml.errors import InvalidArgumentError

try:
    import fcntl
except ImportError:  # Windows has no flock: partials of killed runs stay there until the user deletes them
    fcntl = None  # type: ignore[assignment]


def check_writable(target: str | os.PathLike[str]) -> Path:
    """Fail early, with the fix, if ``target`` cannot be written as a file; return its folder."""
    final = Path(target)
    if final.is_dir():
        raise InvalidArgumentError(f"output {str(final)!r} is a directory; give a file name such as {str(final / 'out.parquet')!r}")
    return _writable_parent(final)


def _writable_parent(final: Path) -> Path:
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidArgumentError(f"cannot write {str(final)!r}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InvalidArgumentError(f"cannot write {str(final)!r}: folder {str(parent)!r} is not writable; choose a writable folder")
    return parent


def new_temp(parent: Path, prefix: str, suffix: str = "", *, folder: bool = False) -> Path:
    """Create a new, empty file (or folder) ``parent/PREFIX<random>SUFFIX`` with the modes the umask gives."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            if folder:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name {prefix}*{suffix} in {str(parent)!r}")


def _partial_prefix(final: Path) -> str:
    return f".{final.name}."


def _lock(path: Path) -> int | None:
    """Open ``path`` and take its exclusive lock without waiting: the descriptor holding it, or None if taken."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _claim(final: Path, folder: bool) -> tuple[Path, int | None]:
    """A new partial beside ``final``, and the descriptor locking it (None without flock)."""
    while True:
        path = new_temp(final.parent, _partial_prefix(final), ".partial", folder=folder)
        if fcntl is None:
            return path, None
        # A concurrent run's cleaner may take or remove the new partial before it is locked: then take another.
        try:
            fd = _lock(path)
        except FileNotFoundError:
            continue
        if fd is not None and _names(path, fd):
            return path, fd
        if fd is not None:
            os.close(fd)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def remove_stale_partials(target: str | os.PathLike[str]) -> None:
    """Remove the ``.NAME.*.partial`` siblings of ``target`` that no live process holds (left by killed runs)."""
    if fcntl is None:
        return
    final = Path(target)
    for path in sorted(final.parent.glob(glob.escape(_partial_prefix(final)) + "*.partial")):
        try:
            fd = _lock(path)
        except OSError:
            continue
        if fd is None:
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            pass  # another cleaner got there first, or no permission: the next run tries again
        finally:
            os.close(fd)


def _start(final: Path, folder: bool) -> tuple[Path, int | None]:
    remove_stale_partials(final)
    try:
        return _claim(final, folder)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {str(final)!r}: {exc.strerror or exc}; choose a writable folder") from exc


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, empty partial file beside ``target``; it replaces ``target`` only if the block succeeds.

    Writers may truncate or replace the partial; on any error (Ctrl-C included) it is removed and ``target``
    is left as it was.
    """
    final = Path(target)
    check_writable(final)
    tmp, fd = _start(final, folder=False)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def write_atomically(target: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a partial file beside ``target``, then rename it to ``target`` (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        write(tmp)


@contextmanager
def atomic_folder(target: str | os.PathLike[str], replaces: str) -> Iterator[Path]:
    """Yield a new, empty partial folder beside ``target``; it takes ``target``'s place only if the block succeeds.

    An existing ``target`` folder is replaced whole (never merged into), and only if it holds nothing but
    files named ``*REPLACES`` (an earlier run's output): anything else is refused before the block runs.
    """
    final = Path(os.path.abspath(target))  # '.' or 'out/' still name the folder and its parent
    if final.exists() and not final.is_dir():
        raise InvalidArgumentError(f"output {str(final)!r} is a file, and this job writes a folder; give a new folder name")
    _writable_parent(final)
    if final.is_dir():
        for entry in sorted(final.iterdir()):
            if not (entry.is_file() and not entry.is_symlink() and entry.name.endswith(replaces)):
                raise InvalidArgumentError(
                    f"output folder {str(final)!r} holds {entry.name!r}, which is not a {replaces} file this job writes; "
                    "choose a new or empty folder"
                )
    with _partial_folder(final) as tmp:
        yield tmp
        old = final.parent / f"{_partial_prefix(final)}{secrets.token_hex(6)}.old.partial"
        if final.exists():
            os.rename(final, old)  # directories cannot be swapped in one rename; a kill here leaves two stale partials
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def new_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, empty partial folder beside ``target``; renamed to ``target`` (which must not exist) if the block succeeds.

    A killed run leaves only a partial that the next call removes (:func:`remove_stale_partials`).
    """
    final = Path(target)
    with _partial_folder(final) as tmp:
        yield tmp
        os.rename(tmp, final)


@contextmanager
def _partial_folder(final: Path) -> Iterator[Path]:
    """A locked partial folder beside ``final`` for the block (which renames it away on success); removed on any error."""
    tmp, fd = _start(final, folder=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)
