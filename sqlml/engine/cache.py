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

Size is bounded by ``SQLML_CACHE_MAX_MB`` (default 2048): when the live pages exceed it, the oldest
inserted rows are deleted down to 80% of the bound (first in, first out). The cache is best effort:
a locked or unreadable cache means a recompute, never a failed query. A corrupt file (e.g. written
over by something else) is deleted and rebuilt; ``stats.resets`` counts that.

Switch: ``SQLML_CACHE=0`` turns it off (default on); ``sqlml.connect(cache=False)`` per connection.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sqlml import config

#: Bytes of sha256 kept per text: 128 bits make an accidental collision practically impossible.
KEY_BYTES = 16
#: Keys per ``IN (...)`` lookup, under SQLite's historical 999-variable limit.
LOOKUP_CHUNK = 900
#: Eviction removes rows until the live size is this fraction of the bound (hysteresis).
EVICT_TO = 0.8
DEFAULT_MAX_MB = 2048

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
    """What ``sqlml cache info`` prints."""

    path: str
    enabled: bool
    entries: int
    bytes_used: int
    file_bytes: int
    max_bytes: int
    models: dict[str, int]

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

    # -- public API -------------------------------------------------------------------------
    def lookup(self, model: Fingerprinted, texts: list[str], dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors of ``texts``: ``(found bool (n,), vectors float32 (n, dimension))``.

        Rows not found are zeros. Never raises for cache trouble (counts it and reports misses).
        """
        found = np.zeros(len(texts), dtype=bool)
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        if texts:
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
        """Insert ``vectors`` (``float32 (len(texts), d)``) for ``texts``; existing rows are kept."""
        if not texts:
            return
        name = model_key(model)
        blobs = np.ascontiguousarray(vectors, dtype="<f4")
        rows = [(name, key, blobs[i].tobytes()) for i, key in enumerate(text_keys(texts))]

        def write(con: sqlite3.Connection) -> int:
            with _transaction(con):
                con.executemany("INSERT OR IGNORE INTO embeddings (model, key, vector) VALUES (?, ?, ?)", rows)
                return self._evict(con)

        evicted = self._guarded(write, default=0)
        with self._lock:
            self.stats.writes += len(rows)
            self.stats.evicted += evicted

    def info(self) -> CacheInfo:
        """Entries, live bytes, file bytes and entries per model key."""

        def read(con: sqlite3.Connection) -> tuple[int, int, dict[str, int]]:
            models = dict(con.execute("SELECT model, count(*) FROM embeddings GROUP BY model ORDER BY model").fetchall())
            return sum(models.values()), _live_bytes(con), models

        entries, used, models = self._guarded(read, default=(0, 0, {})) if self.path.exists() else (0, 0, {})
        files = sum(p.stat().st_size for p in self._files() if p.exists())
        return CacheInfo(str(self.path), True, entries, used, files, self.max_bytes, models)

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
            con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a process crash loses nothing committed; power loss may drop the
                # last transactions but never corrupts the file. Fine for a cache.
                con.execute("PRAGMA synchronous=NORMAL")
                con.executescript(_SCHEMA)
            except BaseException:
                con.close()
                raise
            local.con, local.generation = con, self._generation
        return local.con

    def _guarded(self, action: Any, default: Any) -> Any:
        """Run ``action(connection)``; on a corrupt file rebuild it once; on other trouble give ``default``."""
        for attempt in range(2):
            generation = self._generation
            try:
                return action(self._connection())
            except sqlite3.OperationalError:
                # locked past the timeout, disk full, read-only home: skip the cache this time
                with self._lock:
                    self.stats.errors += 1
                return default
            except sqlite3.DatabaseError:
                # "file is not a database", "database disk image is malformed": rebuild, recompute
                if attempt == 0:
                    self._reset(generation)
        with self._lock:
            self.stats.errors += 1
        return default

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

    def _evict(self, con: sqlite3.Connection) -> int:
        used = _live_bytes(con)
        if used <= self.max_bytes:
            return 0
        total = con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        drop = max(1, int(total * (1 - EVICT_TO * self.max_bytes / used)))
        return int(
            con.execute(
                "DELETE FROM embeddings WHERE id <= (SELECT id FROM embeddings ORDER BY id LIMIT 1 OFFSET ?)", [drop - 1]
            ).rowcount
        )


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
    """Python API of ``sqlml cache info``: path, enabled, entries, bytes used, bound, rows per model."""
    info = open_cache().info()
    return {**info.as_dict(), "enabled": enabled()}


def clear_cache() -> int:
    """Python API of ``sqlml cache clear``: delete every cached embedding; returns how many."""
    return open_cache().clear()
