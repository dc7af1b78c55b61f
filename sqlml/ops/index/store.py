"""The store of named search indexes: versioned folders, one atomic switch, one writer at a time.

Layout under :func:`sqlml.config.home_dir` (``SQLML_HOME``)::

    indexes/<name>/CURRENT              the live version folder's name ("v3"), replaced atomically
    indexes/<name>/.lock                held (flock) by the one build or refresh running
    indexes/<name>/v<k>/meta.json       name, version, source, model (id, fingerprint, dimension), counts, times
    indexes/<name>/v<k>/rows.arrow      Arrow IPC, uncompressed, memory-mapped when read: key VARCHAR, id UINT64 (the
                                        ANN's label), hash VARCHAR (of the key's whole text), text VARCHAR, passage
                                        INT32; one row per key, or per passage of a chunked index (a key's passages
                                        consecutive, passage 0, 1, ...); row order = vectors
    indexes/<name>/v<k>/vectors.npy     float16 (rows, dimension), L2-normalised; memory-mapped when read
    indexes/<name>/v<k>/vectors.usearch the HNSW graph (usearch, cosine, int8 vectors) over the same rows, labelled by id
    indexes/<name>/v<k>/bm25/           bm25s's own index of the texts (memory-mapped when read), and each row's
                                        token ids (sqlml_tokens.npz: a refresh tokenises only changed rows)
    indexes/<name>/v<k>/dead.npy        only in a version with a base (meta.json "base": "v<j>"): the rows of v<j>
                                        this version no longer holds

An incremental refresh writes only what changed: a version with a base is the base folder's rows (minus its
dead rows) followed by its own folder's rows, which are the changed and new rows since the base was written.
The next refresh carries those forward with its own changes; one that would leave more than a set share of
rows dead or outside the base writes a whole version instead (:mod:`sqlml.ops.index.build` decides).

Storage precision (measured in ``benchmarks/NOTES.md``): the vectors are kept as float16, half of float32's
bytes, and every score is computed from them in float32 (cosines move by about 1e-3); the graph holds int8
copies only to find candidates, which are then scored from the float16 vectors.

A build writes a whole new version folder (a partial that a killed run leaves is removed by the next build),
renames it into place and only then replaces ``CURRENT``: a reader sees the old version or the new one, never
a mix, and a ``kill -9`` at any moment leaves the previous version searchable. The version before the live one
is kept (and the bases of both), so a reader that read ``CURRENT`` just before a switch still finds its files.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sqlml import config, paths
from sqlml.atomic import write_atomically
from sqlml.errors import IndexStoreError, InvalidArgumentError
from sqlml.models.heads import NAME_PATTERN, check_store_name
from sqlml.ops.index.runs import positions_within

CURRENT = "CURRENT"
LOCK = ".lock"
META = "meta.json"
ROWS = "rows.arrow"
VECTORS = "vectors.npy"
ANN = "vectors.usearch"
BM25 = "bm25"
#: In ``bm25/`` instead of bm25s's files when no text has a term: every BM25 score is 0.
NO_TERMS = "NO_TERMS"
#: In a version folder with a base: ``int64``, ascending, the base's rows this version no longer holds.
DEAD = "dead.npy"
#: Format 3: rows in memory-mapped, uncompressed Arrow IPC (every refresh reads all rows' keys and texts: no decoding,
#: benchmarks/NOTES.md), float16 vectors and an int8 graph. Earlier formats are refused, naming the rebuild.
FORMAT_VERSION = 3
#: How the vectors are stored (``vectors.npy``) and the scalar type of the graph's own copies.
VECTOR_DTYPE = np.float16
ANN_DTYPE = "i8"


def indexes_dir() -> Path:
    """``$SQLML_HOME/indexes``: the folder that holds every index."""
    return config.home_dir() / "indexes"


def check_index_name(name: Any) -> str:
    """Return ``name`` if it is a valid index name, else raise :class:`InvalidArgumentError`."""
    return check_store_name(name, "index", "'news_idx'")


def rebuild_hint(name: str) -> str:
    """How to rebuild ``name`` from every door, for error messages."""
    return (f"rebuild it: `sqlml index refresh {name} ... --rebuild`, SELECT * FROM sqlml_index('{name}', ..., rebuild := true) "
            f"or sqlml.Index({name!r}).refresh(..., rebuild=True)")


def names() -> list[str]:
    """Every index with a live version, sorted."""
    root = indexes_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if NAME_PATTERN.fullmatch(p.name) and (p / CURRENT).is_file())


def known_text() -> str:
    """The stored index names for error messages."""
    found = names()
    return ", ".join(map(repr, found)) if found else "none yet (build one with sqlml_index, `sqlml index build` or sqlml.Index)"


def current_folder(name: str) -> Path | None:
    """The live version folder of ``name``, or ``None`` when it has none."""
    try:
        live = (indexes_dir() / name / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return indexes_dir() / name / live


def store_folder(name: str) -> Path:
    """The folder of ``name``, refused where the current query's DuckDB sandbox forbids writing it; created."""
    folder = indexes_dir() / check_index_name(name)
    paths.check_sandbox(folder, "index folder", "build it outside the sandboxed database (sqlml index build, sqlml.Index)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def writer(name: str) -> Iterator[Path]:
    """Hold ``name``'s writer lock for a build, refresh or drop; a second writer fails at once, naming the wait."""
    folder = store_folder(name)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexStoreError(
                f"index {name!r} is being built, refreshed or dropped by another call; wait for it to finish and run this again"
            ) from None
        yield folder
    finally:
        os.close(fd)


def publish(folder: Path, version_folder: Path) -> None:
    """Make ``version_folder`` the live version (one atomic rename of ``CURRENT``); drop versions older than the previous one."""
    previous = (folder / CURRENT).read_text(encoding="utf-8").strip() if (folder / CURRENT).is_file() else None
    write_atomically(folder / CURRENT, lambda tmp: tmp.write_text(version_folder.name + "\n", encoding="utf-8"))
    keep = {version_folder.name, previous}
    keep |= {base_of(folder / kept) for kept in list(keep) if kept is not None}
    for old in folder.glob("v*"):
        if old.is_dir() and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def damaged(name: str, folder: Path, what: str) -> IndexStoreError:
    """The error for an unreadable part ``what`` of index ``name``'s version folder ``folder``, naming the rebuild."""
    return IndexStoreError(f"index {name!r} ({str(folder)!r}) is damaged: {what}; {rebuild_hint(name)}")


def base_of(version_folder: Path) -> str | None:
    """The folder name of the base a version's rows start with, or ``None`` (none, or unreadable)."""
    try:
        base = json.loads((version_folder / META).read_text(encoding="utf-8")).get("base")
    except (OSError, ValueError, AttributeError):
        return None
    return str(base) if base is not None else None


def next_version(folder: Path) -> int:
    """One more than the highest ``v<k>`` folder in ``folder``."""
    found = [int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isascii() and p.name[1:].isdigit()]
    return max(found, default=0) + 1


@dataclass
class Segment:
    """The rows of one version folder: row ``i`` has ``keys[i]``, ``ids[i]`` (its label in the folder's graph),
    ``hashes[i]``, ``texts[i]`` (Arrow strings), ``passages[i]`` (its ordinal among its key's passages; 0 when not
    chunked) and ``vectors[i]`` (``float16 (rows, dimension)``, memory-mapped, L2-normalised). A chunked index has
    several consecutive rows per key."""

    name: str
    folder: Path
    meta: dict[str, Any]
    keys: Any
    ids: np.ndarray
    hashes: Any
    texts: Any
    passages: np.ndarray
    vectors: np.ndarray
    _ann: Any = None
    _bm25: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rows(self) -> int:
        return len(self.keys)

    def ann(self) -> Any:
        """The usearch HNSW graph of these rows (memory-mapped view), loaded on first use."""
        from usearch.index import Index

        with self._lock:
            if self._ann is None:
                self._ann = self._damaged_unless(lambda: Index.restore(str(self.folder / ANN), view=True), ANN)
                if self._ann is None or len(self._ann) != self.rows:
                    raise self._damaged(f"{ANN} holds {0 if self._ann is None else len(self._ann)} vectors for {self.rows} rows")
            return self._ann

    def bm25(self) -> Any:
        """bm25s's index of the texts (memory-mapped), loaded on first use; ``None`` when no text has a term."""
        import bm25s

        if (self.folder / BM25 / NO_TERMS).exists():
            return None
        with self._lock:
            if self._bm25 is None:
                self._bm25 = self._damaged_unless(lambda: bm25s.BM25.load(str(self.folder / BM25), mmap=True), BM25)
            return self._bm25

    def bm25_scores(self, terms: list[str]) -> np.ndarray | None:
        """``float32 (rows,)``: bm25s's scores of these rows for the query ``terms`` it knows; ``None`` when it knows none."""
        retriever = self.bm25()
        known = [] if retriever is None else [t for t in terms if t in retriever.vocab_dict]
        return np.asarray(retriever.get_scores(known), dtype=np.float32) if known else None

    def _damaged_unless(self, load: Any, what: str) -> Any:
        try:
            return load()
        except Exception as exc:  # usearch and bm25s raise many unrelated types for unreadable files
            raise self._damaged(f"{what} cannot be read ({type(exc).__name__}: {exc})") from exc

    def _damaged(self, what: str) -> IndexStoreError:
        return damaged(self.name, self.folder, what)


@dataclass
class IndexVersion:
    """One loaded version of an index: its segments' rows, one after the other, as one row space.

    A version is its own folder's segment, preceded (after an incremental refresh) by a base: the segment of an
    earlier version folder, whose rows this version no longer holds are dead (:data:`DEAD`). Row ``i`` has a key,
    ``ids[i]`` (its graph label, unique across segments), a hash, a text (read through :meth:`take`,
    :meth:`key_list` and :meth:`text_list`), ``passages[i]`` and a vector (:meth:`vectors_of`). Dead rows keep their place (row numbers stay the segments'),
    and every search skips them: :meth:`live_rows`, :meth:`positions`, :meth:`bm25_scores` and :meth:`graph_labels`
    know only live rows."""

    name: str
    folder: Path
    meta: dict[str, Any]
    segments: list[Segment]
    dead: np.ndarray  # int64: the dead rows, ascending
    ids: np.ndarray = field(init=False)
    passages: np.ndarray = field(init=False)
    starts: np.ndarray = field(init=False)  # int64 (segments + 1,): segment j's rows are starts[j]:starts[j + 1]
    _live_rows: np.ndarray | None = None
    _live_mask: np.ndarray | None = None
    _positions: dict[str, int] | None = None
    _bounds: np.ndarray | None = None
    _id_order: np.ndarray | None = None
    identity: tuple[str, int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.ids = np.concatenate([s.ids for s in self.segments])
        self.passages = np.concatenate([s.passages for s in self.segments])
        self.starts = np.concatenate([[0], np.cumsum([s.rows for s in self.segments])]).astype(np.int64)

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    @property
    def rows(self) -> int:
        """Rows of every segment, dead ones included (the size of the row space)."""
        return int(self.starts[-1])

    @property
    def live_count(self) -> int:
        return self.rows - len(self.dead)

    @property
    def chunked(self) -> bool:
        return self.meta.get("chunk") is not None

    def live_mask(self) -> np.ndarray:
        """``bool (rows,)``: whether each row is live; computed once per loaded version, so a search looks rows up
        in it instead of searching the dead rows."""
        if self._live_mask is None:
            mask = np.ones(self.rows, dtype=bool)
            mask[self.dead] = False
            with self._lock:
                self._live_mask = mask
        return self._live_mask

    def live_rows(self) -> np.ndarray:
        """``int64``: every live row, ascending."""
        if self._live_rows is None:
            rows = np.flatnonzero(self.live_mask())
            with self._lock:
                self._live_rows = rows
        return self._live_rows

    def bounds(self) -> np.ndarray:
        """``int64 (groups + 1,)``: group ``j``'s rows are ``bounds[j]:bounds[j + 1]``, a group being the rows of one
        key in one segment (one row each when not chunked; a dead group stays a group)."""
        with self._lock:
            if self._bounds is None:
                self._bounds = np.append(np.flatnonzero(self.passages == 0), self.rows)
            return self._bounds

    def live_starts(self) -> np.ndarray:
        """``int64``: the first row of each live key, ascending."""
        starts = self.bounds()[:-1]
        return starts[self.live_mask()[starts]] if len(self.dead) else starts

    def positions(self) -> dict[str, int]:
        """key → its first live row."""
        if self._positions is None:
            starts = self.live_starts()  # outside the lock: bounds() takes it
            found = dict(zip(self.key_list(starts), starts.tolist(), strict=True))
            with self._lock:
                if self._positions is None:
                    self._positions = found
        return self._positions

    def take(self, column: str, rows: np.ndarray) -> Any:
        """Arrow strings: ``column`` (``'keys'``, ``'hashes'`` or ``'texts'``) of ``rows``, in their order. Each segment's column is one array on its memory map: a take reads only the rows asked for."""
        import pyarrow as pa

        rows = np.asarray(rows, dtype=np.int64)
        if len(self.segments) == 1:
            return getattr(self.segments[0], column).take(rows)
        parts = self._by_segment(rows)
        joined = pa.concat_arrays([getattr(s, column).take(local).cast(pa.large_string()) for s, _, local in parts])
        return joined.take(np.argsort(np.concatenate([mine for _, mine, _ in parts]), kind="stable"))

    def _by_segment(self, rows: np.ndarray) -> list[tuple[Segment, np.ndarray, np.ndarray]]:
        """``(segment, positions in rows, its own row numbers)`` for each segment, of ``rows`` (``int64``)."""
        which = np.searchsorted(self.starts, rows, side="right") - 1
        mine = [np.flatnonzero(which == j) for j in range(len(self.segments))]
        return [(s, m, rows[m] - self.starts[j]) for j, (s, m) in enumerate(zip(self.segments, mine, strict=True))]

    def key_list(self, rows: np.ndarray) -> list[str]:
        """The keys of ``rows``."""
        return self.take("keys", rows).to_pylist()  # type: ignore[no-any-return]

    def text_list(self, rows: np.ndarray) -> list[str]:
        """The texts (passages, when chunked) of ``rows``."""
        return self.take("texts", rows).to_pylist()  # type: ignore[no-any-return]

    def key_sizes(self, starts: np.ndarray) -> np.ndarray:
        """``int64``: the rows of each key whose first row is in ``starts`` (1 each when not chunked)."""
        bounds = self.bounds()
        return bounds[np.searchsorted(bounds, starts, side="right")] - starts

    def rows_from_starts(self, starts: np.ndarray) -> np.ndarray:
        """Every row of the keys whose first rows are ``starts`` (ascending, distinct), ascending."""
        if not self.chunked:
            return starts
        sizes = self.key_sizes(starts)
        return np.repeat(starts, sizes) + positions_within(sizes)

    def groups(self) -> np.ndarray:
        """``int64 (rows,)``: the group of each row (rows of one key share it)."""
        return np.repeat(np.arange(len(self.bounds()) - 1), np.diff(self.bounds()))

    def rows_of(self, keys: list[str]) -> np.ndarray:
        """Every live row (passage) of the given keys, ascending; keys the index does not hold are ignored."""
        found = np.fromiter(map(self.positions().get, keys, itertools.repeat(-1)), dtype=np.int64, count=len(keys))  # C-level lookups
        return self.rows_from_starts(np.unique(found[found >= 0]))

    def vectors_of(self, rows: np.ndarray | slice, dtype: Any = np.float32) -> np.ndarray:
        """``dtype (len(rows), dimension)``: the stored vectors of ``rows`` (float32 for scoring)."""
        if len(self.segments) == 1:
            return np.asarray(self.segments[0].vectors[rows], dtype=dtype)
        rows = np.arange(self.rows)[rows] if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.segments[0].vectors.shape[1]), dtype=dtype)
        for segment, mine, local in self._by_segment(rows):
            if len(mine):
                out[mine] = segment.vectors[local]
        return out

    def rows_of_ids(self, labels: np.ndarray) -> np.ndarray:
        """The rows of graph labels (``uint64``, each one the index holds)."""
        with self._lock:
            if self._id_order is None:
                self._id_order = np.argsort(self.ids)
            order = self._id_order
        return order[np.searchsorted(self.ids, labels, sorter=order)]

    def graph_labels(self, vectors: np.ndarray, count: int) -> list[np.ndarray]:
        """Per query vector (``(q, dimension)``), the labels of up to ``count`` nearest rows of each segment's graph
        (the union over segments; dead rows included: the caller drops them)."""
        found: list[list[np.ndarray]] = [[] for _ in range(len(vectors))]
        for segment in (s for s in self.segments if s.rows):
            matches = segment.ann().search(vectors, min(count, segment.rows))
            for q in range(len(vectors)):
                # a batch answer is padded (label 0, distance NaN) beyond the hits the graph found: counts says how many are real
                real = int(matches.counts[q]) if hasattr(matches, "counts") else len(matches.keys)
                found[q].append(np.asarray(matches.keys[q][:real] if hasattr(matches, "counts") else matches.keys, dtype=np.uint64))
        return [np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64) for parts in found]

    def bm25_scores(self, terms: list[str]) -> np.ndarray:
        """``float32 (rows,)``: each row's BM25 score for the query ``terms`` (0 for dead rows, and for terms a
        segment never saw). A segment's scores use the collection statistics of the time it was written."""
        if len(self.segments) == 1:  # bm25s's own array: no copy of a million scores
            scores = self.segments[0].bm25_scores(terms)
            return scores if scores is not None else np.zeros(self.rows, dtype=np.float32)
        out = np.zeros(self.rows, dtype=np.float32)
        for j, segment in enumerate(self.segments):
            scores = segment.bm25_scores(terms)
            if scores is not None:
                out[self.starts[j] : self.starts[j + 1]] = scores
        out[self.dead] = 0
        return out


def load_version(name: str, folder: Path) -> IndexVersion:
    """Read and check one version folder (and its base's); raise :class:`IndexStoreError` naming the fix for anything unreadable."""
    own = load_segment(name, folder)
    base = own.meta.get("base")
    if base is None:
        return IndexVersion(name, folder, own.meta, [own], np.zeros(0, dtype=np.int64))
    first = load_segment(name, folder.parent / str(base))
    try:
        dead = np.load(folder / DEAD)
    except (OSError, ValueError) as exc:
        raise damaged(name, folder, f"{DEAD}: {type(exc).__name__}: {exc}") from exc
    if dead.dtype != np.int64 or dead.ndim != 1 or (len(dead) and (dead[0] < 0 or dead[-1] >= first.rows or (np.diff(dead) <= 0).any())):
        raise damaged(name, folder, f"{DEAD} does not list rows of its base")
    return IndexVersion(name, folder, own.meta, [first, own], dead)


def load_segment(name: str, folder: Path) -> Segment:
    """Read and check the files of one version folder."""
    import pyarrow.feather as feather

    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int):
            raise ValueError(f"{META} is not an index description")
        if meta["format_version"] != FORMAT_VERSION:
            raise IndexStoreError(f"index {name!r} is stored in format {meta['format_version']} (an earlier sqlml); "
                                  f"this sqlml reads format {FORMAT_VERSION}: {rebuild_hint(name)}")
        table = feather.read_table(str(folder / ROWS), memory_map=True)
        vectors = np.load(folder / VECTORS, mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise damaged(name, folder, f"{type(exc).__name__}: {exc}") from exc
    dimension = (meta.get("model") or {}).get("dimension")
    if not {"key", "id", "hash", "text", "passage"} <= set(table.column_names):
        raise damaged(name, folder, f"{ROWS} lacks a column")
    # one array per column on the memory map (a take on a chunked array would join its chunks first)
    rows = {column: table[column].chunk(0) if table[column].num_chunks == 1 else table[column].combine_chunks()
            for column in ("key", "id", "hash", "text", "passage")}
    keys = rows["key"]
    passages = rows["passage"].to_numpy(zero_copy_only=False).astype(np.int64)
    if len(passages) and (passages[0] != 0 or (passages[1:] != 0) & (passages[1:] != passages[:-1] + 1)).any():
        raise damaged(name, folder, f"{ROWS} has passages out of order")
    if vectors.dtype != VECTOR_DTYPE or vectors.ndim != 2 or vectors.shape != (len(keys), dimension):
        raise damaged(name, folder, f"{VECTORS} has shape {vectors.shape} {vectors.dtype}, expected ({len(keys)}, {dimension}) {np.dtype(VECTOR_DTYPE)}")
    if meta.get("rows") != len(keys):
        raise damaged(name, folder, f"{META} says {meta.get('rows')} rows, {ROWS} holds {len(keys)}")
    return Segment(name, folder, meta, keys, rows["id"].to_numpy(zero_copy_only=False).astype(np.uint64), rows["hash"], rows["text"],
                   passages, vectors)


_loaded: dict[str, IndexVersion] = {}
_loaded_lock = threading.Lock()


def load(name: str) -> IndexVersion:
    """The live version of ``name`` (cached until ``CURRENT`` names another folder).

    Raises :class:`InvalidArgumentError` listing the indexes when ``name`` has none, :class:`IndexStoreError` when
    its files are damaged.
    """
    check_index_name(name)
    check_readable(indexes_dir() / name)
    for _ in range(3):  # a refresh may switch and clean up between reading CURRENT and reading the folder
        folder = current_folder(name)
        if folder is None:
            raise InvalidArgumentError(f"index {name!r} not found in {str(indexes_dir())!r}; known indexes: {known_text()}")
        try:
            stamp = (folder / META).stat()
        except FileNotFoundError:
            if current_folder(name) != folder:
                continue
            stamp = None  # load_version names the missing file
        # a drop and rebuild reuses the folder name v1: the file's identity tells the versions apart
        identity = (str(folder), stamp.st_ino, stamp.st_mtime_ns) if stamp is not None else None
        with _loaded_lock:
            found = _loaded.get(name)
        if found is not None and identity is not None and found.identity == identity:
            return found
        version = load_version(name, folder)
        version.identity = identity
        with _loaded_lock:
            _loaded[name] = version
        return version
    raise IndexStoreError(f"index {name!r} changed three times while being opened; run the search again")


def describe(name: str) -> dict[str, Any]:
    """One listing row of ``name`` (from its ``meta.json`` and the folder's size); a damaged index gets ``error``."""
    folder = current_folder(name)
    row: dict[str, Any] = {"name": name, "path": str(folder)}
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8")) if folder is not None else {}
    except (OSError, ValueError) as exc:
        return {**row, "error": f"unreadable {META}: {exc}"}
    model = meta.get("model") or {}
    size = version_bytes(folder) if folder is not None else 0
    return {**row, "version": meta.get("version"), "source": meta.get("source"), "rows": meta.get("keys", meta.get("rows")),
            "model": model.get("id"), "dimension": model.get("dimension"), "bytes": size, "updated_at": meta.get("updated_at")}


def version_bytes(folder: Path) -> int:
    """Bytes of a version: its folder's files and its base's."""
    base = base_of(folder)
    return folder_bytes(folder) + (folder_bytes(folder.parent / base) if base is not None else 0)


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_indexes() -> list[dict[str, Any]]:
    """Every index's :func:`describe` row, by name."""
    check_readable(indexes_dir())
    return [describe(name) for name in names()]


def check_readable(folder: Path) -> None:
    """Refuse reading ``folder`` where the current query's DuckDB sandbox forbids it (an index holds its texts)."""
    paths.check_sandbox(folder, "index folder", "search it outside the sandboxed database (sqlml index search, sqlml.Index), or allow "
                        "$SQLML_HOME/indexes in allowed_directories")


def drop(name: str) -> bool:
    """Remove ``name`` and every version of it; ``False`` when there was nothing to drop."""
    check_index_name(name)
    if current_folder(name) is None:
        return False
    with writer(name) as folder:
        (folder / CURRENT).unlink(missing_ok=True)  # from here on no reader finds it
        for entry in folder.iterdir():
            if entry.name != LOCK:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    with _loaded_lock:
        _loaded.pop(name, None)
    return True
