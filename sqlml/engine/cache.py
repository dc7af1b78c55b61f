"""A persistent embedding cache: (model key, sha256 of text) → float32 vector, in SQLite (WAL mode).

Why SQLite: it ships with Python, gives atomic transactions (a process killed mid-write leaves the
last committed state, never a torn file), lets many readers and one writer work at once across
threads *and* processes (WAL), and answers keyed lookups from an index without loading the cache.
A DuckDB file allows one writing process only; Parquet segments would need our own index,
compaction and locking. Measurements are in ``docs/relevance.md``.

Layout: ``$SQLML_HOME/cache/embeddings.sqlite``. Keys are the first 16 bytes of the text's sha256;
the model key is the encoder's file fingerprint plus dtype and max_seq_length, so a changed model,
precision or truncation never reads stale vectors (invalidation by fingerprint). Old models' rows
stay until evicted or cleared.

Size is bounded by ``SQLML_CACHE_MAX_MB`` (default 2048), counting the files on disk: the database,
its write-ahead log (``-wal``) and the log's index (``-shm``) together stay within the bound after every
write (a write in progress may briefly use more). The log gets an eighth of the bound and is truncated
when it outgrows it; when the database file outgrows the rest, the oldest inserted rows are deleted
down to 80% of it (first in, first out) and the freed pages are given back to the file system
(``auto_vacuum=INCREMENTAL``; a file made without it is converted by one ``VACUUM`` when opened).

The cache is optional: a fault never fails or nulls a row. A corrupt file (e.g. written over by
something else) is deleted and rebuilt; ``stats.resets`` counts that. Any other fault (a folder that
cannot be created, no permission, a full disk, a lock held past the timeout, a corrupt file that
cannot be deleted) turns this cache off for the rest of the process with one :class:`SqlmlWarning`
and counts ``stats.errors``; texts are then embedded without it.

Switch: ``SQLML_CACHE=0`` turns it off (default on); ``sqlml.connect(cache=False)`` per connection.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sqlml import config
from sqlml.errors import SqlmlWarning

#: Bytes of sha256 kept per text: 128 bits make an accidental collision practically impossible.
KEY_BYTES = 16
#: Keys per ``IN (...)`` lookup, under SQLite's historical 999-variable limit.
LOOKUP_CHUNK = 900
#: Eviction removes rows until the live size is this fraction of the database's share (hysteresis).
EVICT_TO = 0.8
#: Share of the bound kept for the write-ahead log; the database file gets the rest.
WAL_SHARE = 0.125
#: SQLite's WAL index (``-shm``) grows by 32 KiB per 4096 log frames.
SHM_BYTES_PER_4096_FRAMES = 32 * 1024
DEFAULT_MAX_MB = 2048
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,          -- insertion order: eviction drops the smallest ids first
    model TEXT NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL             -- float32 little-endian, dimension = len(vector) / 4
);
CREATE UNIQUE INDEX IF NOT EXISTS embeddings_model_key ON embeddings (model, key);
"""


class Fingerprinted(Protocol):
    """What the cache needs of a model: a runtime (:class:`sqlml.engine.runtime.RuntimeView`) is one, as
    is the encoder it runs (:class:`sqlml.models.encoder.Encoder`); both give the same key."""

    dtype: str
    max_seq_length: int

    @property
    def fingerprint(self) -> str:
        """Stable id of the model's files."""


@dataclass
class CacheStats:
    """Counters since this process opened the cache (texts, not requests)."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    evicted: int = 0
    resets: int = 0
    errors: int = 0


@dataclass(frozen=True)
class CacheInfo:
    """What ``sqlml cache info`` prints; ``disabled_because``: why the cache is off (``None`` while it is on)."""

    path: str
    enabled: bool
    entries: int
    bytes_used: int
    file_bytes: int
    max_bytes: int
    models: dict[str, int]
    disabled_because: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def model_key(model: Fingerprinted) -> str:
    """The cache's model key: file fingerprint, dtype and truncation length."""
    return f"{model.fingerprint}:{model.dtype}:{model.max_seq_length}"


def text_keys(texts: list[str]) -> list[bytes]:
    """First :data:`KEY_BYTES` bytes of each text's UTF-8 sha256."""
    return [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest()[:KEY_BYTES] for t in texts]


class EmbeddingCache:
    """One cache file; thread-safe (one SQLite connection per thread) and multi-process safe."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0
        #: Why a fault turned the cache off for this process (``None`` while it works).
        self.disabled_because: str | None = None

    # -- public API -------------------------------------------------------------------------
    def lookup(self, model: Fingerprinted, texts: list[str], dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors of ``texts``: ``(found bool (n,), vectors float32 (n, dimension))``.

        Rows not found are zeros. Never raises for cache trouble (see :meth:`_guarded`; all misses then).
        """
        found = np.zeros(len(texts), dtype=bool)
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        if texts and self.disabled_because is None:
            keys = text_keys(texts)
            position = {k: i for i, k in enumerate(keys)}
            rows = self._guarded(lambda con: self._select(con, model_key(model), keys), default=[])
            for key, blob in rows:
                if len(blob) == 4 * dimension:  # a row of another width is ignored, i.e. recomputed
                    i = position[key]
                    found[i] = True
                    vectors[i] = np.frombuffer(blob, dtype="<f4")
        hits = int(found.sum())
        with self._lock:
            self.stats.hits += hits
            self.stats.misses += len(texts) - hits
        return found, vectors

    def store(self, model: Fingerprinted, texts: list[str], vectors: np.ndarray) -> None:
        """Insert ``vectors`` (``float32 (len(texts), d)``) for ``texts``; existing rows are kept.

        Rows go in transactions of at most half the log's share of the bound, so one call never grows the
        log far past it; afterwards the files on disk are within ``max_bytes`` (see :meth:`_settle`).
        """
        if not texts or self.disabled_because is not None:
            return
        name = model_key(model)
        blobs = np.ascontiguousarray(vectors, dtype="<f4")
        rows = [(name, key, blobs[i].tobytes()) for i, key in enumerate(text_keys(texts))]

        def write(con: sqlite3.Connection) -> int:
            database_pages, wal_bytes = self._shares(con)
            con.execute(f"PRAGMA journal_size_limit = {wal_bytes}")
            row_bytes = len(rows[0][2]) + 2 * (len(name) + KEY_BYTES) + 64  # table row and index entry, roughly
            step = max(1, wal_bytes // 2 // row_bytes)
            evicted = 0
            for start in range(0, len(rows), step):
                with _transaction(con):
                    con.executemany("INSERT OR IGNORE INTO embeddings (model, key, vector) VALUES (?, ?, ?)", rows[start : start + step])
                    evicted += self._evict(con, database_pages)
            self._settle(con, database_pages, wal_bytes)
            return evicted

        evicted = self._guarded(write, default=None)
        if evicted is not None:
            with self._lock:
                self.stats.writes += len(rows)
                self.stats.evicted += evicted

    def info(self, create: bool = True) -> CacheInfo:
        """Entries, live bytes, file bytes and entries per model key.

        ``create``: open the file as the next use would (creating it), so a place where the cache cannot live
        shows as off, with its cause; otherwise only an existing file is read.
        """

        def read(con: sqlite3.Connection) -> tuple[int, int, dict[str, int]]:
            models = dict(con.execute("SELECT model, count(*) FROM embeddings GROUP BY model ORDER BY model").fetchall())
            return sum(models.values()), _live_bytes(con), models

        entries, used, models = self._guarded(read, default=(0, 0, {})) if create or self.path.exists() else (0, 0, {})
        files = sum(_file_bytes(p) for p in self._files())
        reason = self.disabled_because
        return CacheInfo(str(self.path), reason is None, entries, used, files, self.max_bytes, models, reason)

    def clear(self) -> int:
        """Delete every entry and shrink the file; returns the number of entries removed."""
        if not self.path.exists():
            return 0

        def wipe(con: sqlite3.Connection) -> int:
            with _transaction(con):
                removed = con.execute("DELETE FROM embeddings").rowcount
            con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(removed)

        return self._guarded(wipe, default=0)

    # -- internals --------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        return [self.path, self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")]

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "generation", None) != self._generation or getattr(local, "con", None) is None:
            if getattr(local, "con", None) is not None:
                local.con.close()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite would create the file 0644 whatever the umask; its log and index copy the file's mode
            with suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            try:
                # before the first table: a new file gives freed pages back to the file system on request
                con.execute("PRAGMA auto_vacuum=INCREMENTAL")
                con.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a process crash loses nothing committed; power loss may drop the
                # last transactions but never corrupts the file. Fine for a cache.
                con.execute("PRAGMA synchronous=NORMAL")
                con.executescript(_SCHEMA)
                if con.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
                    con.execute("VACUUM")  # a file made without auto_vacuum switches only by a rebuild
            except BaseException:
                con.close()
                raise
            local.con, local.generation = con, self._generation
        return local.con

    def _guarded(self, action: Any, default: Any) -> Any:
        """Run ``action(connection)``, or give ``default``: the cache never fails the rows it serves.

        A corrupt file is rebuilt once; any other fault, or a rebuild that fails, turns the cache off
        (:meth:`_disable`). Once off, ``default`` comes at once.
        """
        for attempt in range(2):
            if self.disabled_because is not None:
                return default
            generation = self._generation
            try:
                return action(self._connection())
            except sqlite3.OperationalError as error:
                # locked past the timeout, disk full, no permission, a folder where the file should be
                self._disable(error)
                return default
            except sqlite3.DatabaseError as error:
                # "file is not a database", "database disk image is malformed": rebuild once, recompute
                if attempt == 1:
                    self._disable(error)
                    return default
                try:
                    self._reset(generation)
                except OSError as reset_error:
                    self._disable(reset_error)
                    return default
            except OSError as error:
                # the folder cannot be created: SQLML_HOME or cache/ is a file, no permission, disk full
                self._disable(error)
                return default
        return default

    def _disable(self, error: Exception) -> None:
        """Count ``error`` and turn the cache off for this process; the first fault warns, once."""
        with self._lock:
            self.stats.errors += 1
            if self.disabled_because is not None:
                return
            self.disabled_because = f"{type(error).__name__}: {error}"
            con = getattr(self._local, "con", None)
            if con is not None:
                con.close()
                self._local.con = None
        warnings.warn(
            f"sqlml: the embedding cache {self.path} is off for the rest of this process ({self.disabled_because}); "
            f"texts are embedded without it. Fix: let sqlml create and write {self.path} (point SQLML_HOME at a "
            "writable folder), or set SQLML_CACHE=0 to run without the cache.",
            SqlmlWarning,
            stacklevel=3,
        )

    def _reset(self, seen_generation: int) -> None:
        with self._lock:
            if self._generation != seen_generation:  # another thread already rebuilt it
                return
            con = getattr(self._local, "con", None)
            if con is not None:
                con.close()
                self._local.con = None
            for path in self._files():
                path.unlink(missing_ok=True)
            self._generation += 1
            self.stats.resets += 1

    def _select(self, con: sqlite3.Connection, name: str, keys: list[bytes]) -> list[tuple[bytes, bytes]]:
        rows: list[tuple[bytes, bytes]] = []
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += con.execute(f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({marks})", [name, *chunk]).fetchall()
        return rows

    def _shares(self, con: sqlite3.Connection) -> tuple[int, int]:
        """``(database pages, log bytes)`` of ``max_bytes``; the log's index (-shm) is kept room for too."""
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        wal_bytes = int(self.max_bytes * WAL_SHARE)
        shm_bytes = SHM_BYTES_PER_4096_FRAMES * (wal_bytes // (4096 * page_size) + 2)
        return max(16, (self.max_bytes - wal_bytes - shm_bytes) // page_size), wal_bytes

    def _evict(self, con: sqlite3.Connection, database_pages: int) -> int:
        """Inside a write transaction: when the live pages outgrow ``database_pages``, delete the oldest rows
        until they are :data:`EVICT_TO` of it; returns the rows deleted. Later writes reuse the freed pages."""
        evicted = 0
        while True:
            live = con.execute("PRAGMA page_count").fetchone()[0] - con.execute("PRAGMA freelist_count").fetchone()[0]
            if live <= database_pages:
                return evicted
            total = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            drop = min(total, max(1, int(total * (1 - EVICT_TO * database_pages / live))))
            if drop == 0:
                return evicted  # nothing left to delete: the schema alone outgrows a tiny bound
            evicted += con.execute(
                "DELETE FROM embeddings WHERE id <= (SELECT id FROM embeddings ORDER BY id LIMIT 1 OFFSET ?)", [drop - 1]
            ).rowcount

    def _settle(self, con: sqlite3.Connection, database_pages: int, wal_bytes: int) -> None:
        """After a write: give free pages past ``database_pages`` back, and checkpoint and truncate the log
        when the files on disk outgrow their shares."""
        excess = con.execute("PRAGMA page_count").fetchone()[0] - database_pages
        if excess > 0:
            # executescript steps the pragma to the end; execute() would free one page per call
            con.executescript(f"PRAGMA incremental_vacuum({excess})")
        database, wal, _shm = (_file_bytes(p) for p in self._files())
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        if wal > wal_bytes or database > database_pages * page_size:
            # copies the log into the database, cuts the database to its pages and the log to zero bytes
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[None]:
    """One atomic write transaction (the connection is in autocommit mode otherwise)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _file_bytes(path: Path) -> int:
    """Size of ``path``, 0 when it is missing (another process may be rebuilding the cache, or a file holds its place)."""
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _live_bytes(con: sqlite3.Connection) -> int:
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    free = con.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def cache_path(home: str | os.PathLike[str] | None = None) -> Path:
    """Where the cache file lives: ``$SQLML_HOME/cache/embeddings.sqlite``."""
    return config.home_dir(home) / "cache" / "embeddings.sqlite"


def enabled(explicit: bool | None = None, device: str = "cpu") -> bool:
    """Whether caching is on: argument > ``SQLML_CACHE`` > on for CPU/MPS models, off for CUDA ones.

    The default follows cost: a cache write costs ~25 µs per row, far less than a CPU forward pass but
    more than a GPU one (a CUDA runtime embeds 100k+ short rows/s), where caching would slow first runs.
    """
    return config.resolve("cache", explicit, not device.startswith("cuda"), config.parse_bool)


_caches: dict[Path, EmbeddingCache] = {}
_caches_lock = threading.Lock()


def open_cache(home: str | os.PathLike[str] | None = None) -> EmbeddingCache:
    """The process-wide cache object for this ``SQLML_HOME`` (the file is created on first write)."""
    path = cache_path(home)
    max_mb = config.resolve("cache_max_mb", None, DEFAULT_MAX_MB, config.parse_positive_int)
    with _caches_lock:
        cache = _caches.get(path)
        if cache is None:
            cache = _caches[path] = EmbeddingCache(path, max_mb * 1024 * 1024)
        cache.max_bytes = max_mb * 1024 * 1024
        return cache


def opened_caches() -> list[tuple[Path, EmbeddingCache]]:
    """Every cache object this process has opened, with its file path (for :func:`sqlml.stats`)."""
    with _caches_lock:
        return list(_caches.items())


def get_cache(explicit: bool | None = None, device: str = "cpu") -> EmbeddingCache | None:
    """The cache for a model on ``device``, or ``None`` when caching is off (see :func:`enabled`)."""
    return open_cache() if enabled(explicit, device) else None


def cache_info() -> dict[str, Any]:
    """Python API of ``sqlml cache info``: path, enabled (and if not, ``disabled_because``), entries, bytes used, bound, rows per model.

    A cache that is on is opened (its file created if missing), so a place where it cannot work reports why.
    """
    if enabled():
        return open_cache().info().as_dict()
    return {**open_cache().info(create=False).as_dict(), "enabled": False, "disabled_because": "SQLML_CACHE=0"}


def clear_cache() -> int:
    """Python API of ``sqlml cache clear``: delete every cached embedding; returns how many."""
    return open_cache().clear()
