"""Building and refreshing a named index: embed only what changed, then write a new version atomically.

A refresh compares each row's text hash (blake2b-128 of its UTF-8 bytes) with the live version's for the
same key: unchanged rows keep their vectors (no model call), changed and new rows are embedded, keys no
longer given are removed. The HNSW graph is copied from the live version and patched (remove, then add) when
few rows changed, and built anew otherwise; a first build fills it in a background thread while the next rows
are embedded (usearch releases the GIL), so its construction overlaps the model's work. bm25s's index is rebuilt
whenever any text changed, from the saved tokens of the unchanged rows and the new texts' tokens.
Engine-agnostic: SQL (``sqlml_index``), the CLI (``sqlml index``) and Python (``sqlml.Index``) call :func:`build_index`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sqlml import progress
from sqlml.atomic import new_folder
from sqlml.config import Settings
from sqlml.engine.cache import get_cache
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import IndexStoreError, InvalidArgumentError
from sqlml.ops.classify.long_text import pieces_of
from sqlml.ops.embed import embed_strings
from sqlml.ops.index import store
from sqlml.ops.index.segments import positions_within
from sqlml.ops.inputs import as_string_array
from sqlml.version import __version__

#: ``chunk`` values: one vector per row (``None``), or per sentence-aligned passage of a long text.
CHUNKING = (None, "sentences")
#: Above this share of changed rows the HNSW graph is built anew instead of patched.
PATCH_LIMIT = 0.2
#: HNSW graph settings (usearch's defaults: connectivity 16, expansion 128 when adding, 64 when searching).
ANN_METRIC = "cos"
#: Rows embedded per step of a build; each step's vectors join the graph while the next step embeds.
EMBED_STEP = 65_536


@dataclass(frozen=True)
class IndexReport:
    """What one build or refresh did: row counts by fate, the new version, seconds and bytes on disk."""

    name: str
    version: int
    rows: int
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: int
    seconds: float
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"index {self.name}@v{self.version}: {self.rows:,} rows ({self.added:,} added, {self.updated:,} updated, "
                f"{self.removed:,} removed, {self.unchanged:,} unchanged, {self.skipped:,} skipped for NULL text) "
                f"in {self.seconds:.1f} s, {self.bytes:,} bytes")


def text_hash(text: str) -> str:
    """The change detector of one row: blake2b-128 of the text's UTF-8 bytes, hex."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def keys_as_text(keys: Any) -> Any:
    """``keys`` as an Arrow string array: numbers (Python, Arrow or polars) become their text, as SQL's ``::VARCHAR``
    makes them for integers; text stays text."""
    import pyarrow as pa

    if isinstance(keys, (list, tuple)):
        return pa.array([None if k is None else k if isinstance(k, str) else str(k) for k in keys], type=pa.string())
    if hasattr(keys, "to_arrow"):  # polars Series
        keys = keys.to_arrow()
    if isinstance(keys, (pa.Array, pa.ChunkedArray)) and (pa.types.is_integer(keys.type) or pa.types.is_floating(keys.type)):
        keys = keys.cast(pa.string())
    return as_string_array(keys, "keys")


def check_rows(keys: Any, texts: Any, function: str) -> tuple[list[str], list[str], int]:
    """``(keys, texts, skipped)``: rows with NULL text dropped; keys must be non-NULL and distinct."""
    key_array, text_array = keys_as_text(keys), as_string_array(texts, "texts")
    if len(key_array) != len(text_array):
        raise InvalidArgumentError(f"{function}: keys and texts differ in length ({len(key_array)} vs {len(text_array)})")
    all_keys, all_texts = key_array.to_pylist(), text_array.to_pylist()
    if any(k is None for k in all_keys):
        raise InvalidArgumentError(f"{function}: a key is NULL (row {all_keys.index(None) + 1}); every row needs a key that joins back to the table")
    seen: set[str] = set()
    repeated = next((k for k in all_keys if k in seen or seen.add(k)), None)  # type: ignore[func-returns-value]
    if repeated is not None:
        raise InvalidArgumentError(f"{function}: key {repeated!r} appears more than once; the key column must be unique (e.g. a primary key)")
    kept = [i for i, t in enumerate(all_texts) if t is not None]
    return [all_keys[i] for i in kept], [all_texts[i] for i in kept], len(all_keys) - len(kept)


def build_index(
    name: str,
    keys: Any,
    texts: Any,
    *,
    settings: Settings | None = None,
    rebuild: bool = False,
    chunk: str | None = None,
    source: str | None = None,
    show_progress: bool | None = None,
) -> IndexReport:
    """Build index ``name`` over ``texts`` identified by ``keys``, or refresh it incrementally.

    ``keys``/``texts``: equal-length lists (or Arrow arrays / polars Series); keys are read as text and must be
    distinct and non-NULL; a NULL text leaves its row out (counted in ``skipped``). The model is
    ``settings.model``; refreshing with another model than the index's is refused unless ``rebuild``, which
    re-embeds every row. ``chunk='sentences'``: a text longer than the model window is stored as its
    sentence-aligned passages (each within the window), so nothing past the window is invisible to search; a
    search returns each key once, scored by its best passage. ``source`` is a description shown by listings.
    """
    started = time.perf_counter()
    store.check_index_name(name)
    if chunk not in CHUNKING:
        raise InvalidArgumentError(f"sqlml_index: chunk must be NULL (one vector per row) or 'sentences'; got {chunk!r}")
    keys_in, texts_in, skipped = check_rows(keys, texts, "sqlml_index")
    if not keys_in:
        raise InvalidArgumentError("sqlml_index: no row has a text to index (every text is NULL, or there are no rows)")
    settings = settings or Settings.resolve()
    runtime = runtime_for(settings)
    with store.writer(name) as folder:
        previous = _previous(name, runtime, rebuild, chunk)
        hashes = [text_hash(t) for t in texts_in]
        first = previous.positions() if previous is not None else {}
        old = np.array([first.get(k, -1) for k in keys_in], dtype=np.int64)
        unchanged = np.array([r >= 0 and previous.hashes[r] == h for r, h in zip(old, hashes, strict=True)], dtype=bool) \
            if previous is not None else np.zeros(len(keys_in), dtype=bool)
        removed_keys = set(first) - set(keys_in)
        counts = {"added": int((old < 0).sum()), "updated": int(((old >= 0) & ~unchanged).sum()), "removed": len(removed_keys),
                  "unchanged": int(unchanged.sum())}
        same_rows = previous is not None and counts["added"] == counts["updated"] == counts["removed"] == 0
        if previous is not None and same_rows and source in (None, previous.meta.get("source")):  # nothing changed: no new version
            return IndexReport(name, previous.version, len(keys_in), skipped=skipped, seconds=round(time.perf_counter() - started, 3),
                               bytes=store.folder_bytes(previous.folder), **counts)
        changed = [i for i in range(len(keys_in)) if not unchanged[i]]
        pieces = pieces_of([texts_in[i] for i in changed], runtime) if chunk else [[texts_in[i]] for i in changed]
        # a first build's rows are its fresh rows in order, labelled 0, 1, ...: its graph grows as they are embedded
        with GraphBuilder(runtime.dimension, background=previous is None) as graph:
            with progress.progress_bar(sum(map(len, pieces)), "embed", progress.enabled(show_progress, False)) as bar:
                cache = get_cache(settings.cache, runtime.device)  # as sqlml_search: on for CPU models unless SQLML_CACHE=0
                fresh_vectors = _embed_rows([p for group in pieces for p in group], runtime, bar, cache, graph)
            layout = _layout(previous, keys_in, hashes, unchanged, old, dict(zip(changed, pieces, strict=True)), fresh_vectors)
            next_id = int(previous.meta.get("next_id", previous.rows)) if previous is not None else 0
            fresh_rows = np.flatnonzero(layout.reused < 0)
            layout.ids[fresh_rows] = np.arange(next_id, next_id + len(fresh_rows), dtype=np.uint64)
            stale = np.setdiff1d(previous.ids, layout.ids[layout.reused >= 0]) if previous is not None else np.zeros(0, dtype=np.uint64)
            version = store.next_version(folder)
            with new_folder(folder / f"v{version}") as tmp:
                _write_rows(tmp, layout)
                np.save(tmp / store.VECTORS, layout.vectors)
                if previous is not None and same_rows and np.array_equal(layout.reused, np.arange(len(layout.reused))):
                    # only the source's description changed, rows in the same order: bm25s's document numbers still hold
                    shutil.copytree(previous.folder / store.BM25, tmp / store.BM25)
                else:
                    _write_bm25(tmp, layout.texts, previous, layout.reused)
                _write_ann(tmp, previous, layout.vectors, layout.ids, stale, fresh_rows, graph)  # last: a first build's graph may still be growing
                now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                meta = {
                    "format_version": store.FORMAT_VERSION, "name": name, "version": version,
                    "source": source if source is not None else (previous.meta.get("source") if previous is not None else None),
                    "model": {"name": runtime.model_name, "id": runtime.model_id, "fingerprint": runtime.fingerprint,
                              "dimension": runtime.dimension},
                    "chunk": chunk, "keys": len(keys_in), "rows": len(layout.keys), "next_id": next_id + len(fresh_rows),
                    "last_change": {**counts, "skipped": skipped},
                    "created_at": previous.meta.get("created_at", now) if previous is not None else now, "updated_at": now,
                    "sqlml_version": __version__,
                }
                (tmp / store.META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        store.publish(folder, folder / f"v{version}")
    return IndexReport(name, version, len(keys_in), skipped=skipped, seconds=round(time.perf_counter() - started, 3),
                       bytes=store.folder_bytes(folder / f"v{version}"), **counts)


@dataclass
class Layout:
    """The rows of a new version, in order: one per key, or per passage of a chunked index (a key's passages
    consecutive). ``reused[i]``: the previous version's row that row ``i`` copies (its vector and id), or -1."""

    keys: list[str]
    hashes: list[str]
    texts: list[str]
    passages: np.ndarray
    vectors: np.ndarray
    ids: np.ndarray
    reused: np.ndarray


def _layout(previous: store.IndexVersion | None, keys: list[str], hashes: list[str], unchanged: np.ndarray, old: np.ndarray,
            pieces: dict[int, list[str]], fresh_vectors: np.ndarray) -> Layout:
    """Unchanged keys keep every row of theirs from ``previous``; changed and new keys get their ``pieces`` and the
    next rows of ``fresh_vectors``. Array operations over rows (a refresh of a million rows leaves most unchanged)."""
    sizes = np.zeros(len(keys), dtype=np.int64)  # rows of each key in the new version
    if previous is not None and unchanged.any():
        bounds = previous.bounds()
        sizes[unchanged] = bounds[np.searchsorted(bounds, old[unchanged], side="right")] - old[unchanged]
    changed = np.flatnonzero(~unchanged)
    sizes[changed] = [len(pieces[i]) for i in changed.tolist()]
    owner = np.repeat(np.arange(len(keys)), sizes)  # each new row's key
    passages = positions_within(sizes)
    fresh_start = np.zeros(len(keys), dtype=np.int64)  # a changed key's first row of fresh_vectors
    fresh_start[changed] = np.cumsum(sizes[changed]) - sizes[changed]
    kept = unchanged[owner]
    where = np.where(kept, old[owner] + passages, -(1 + fresh_start[owner] + passages))  # >= 0: a previous row
    fresh_texts = [text for i in changed.tolist() for text in pieces[i]]
    out_texts = [previous.texts[w] if w >= 0 else fresh_texts[-1 - w] for w in where.tolist()]  # type: ignore[union-attr]
    vectors = np.empty((len(where), fresh_vectors.shape[1]), dtype=store.VECTOR_DTYPE)
    ids = np.zeros(len(where), dtype=np.uint64)
    if previous is not None and kept.any():
        vectors[kept] = previous.vectors[where[kept]]
        ids[kept] = previous.ids[where[kept]]
    vectors[~kept] = fresh_vectors[-(1 + where[~kept])]
    owners = owner.tolist()
    return Layout([keys[i] for i in owners], [hashes[i] for i in owners], out_texts, passages.astype(np.int32), vectors, ids,
                  np.where(kept, where, -1))


def _previous(name: str, runtime: AnyRuntime, rebuild: bool, chunk: str | None) -> store.IndexVersion | None:
    """The live version to refresh from (``None``: build from scratch); refuses another model or chunking unless ``rebuild``."""
    if rebuild or store.current_folder(name) is None:
        return None
    try:
        previous = store.load(name)
    except IndexStoreError as exc:
        raise IndexStoreError(f"{exc}. A refresh reuses the live version's vectors, so it needs rebuild") from exc
    model = previous.meta.get("model") or {}
    if model.get("fingerprint") != runtime.fingerprint:
        raise IndexStoreError(
            f"index {name!r} holds embeddings of {model.get('id')!r}, and this refresh embeds with {runtime.model_id!r}; "
            f"refresh it with its model (model := {model.get('name')!r}) or re-embed every row: {store.rebuild_hint(name)}"
        )
    if previous.meta.get("chunk") != chunk:
        raise IndexStoreError(
            f"index {name!r} was built with chunk {previous.meta.get('chunk')!r}, and this refresh asks for {chunk!r}; "
            f"refresh it as it was built, or re-embed every row: {store.rebuild_hint(name)}"
        )
    return previous


def _write_rows(folder: Path, layout: Layout) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"key": pa.array(layout.keys, pa.string()), "id": pa.array(layout.ids, pa.uint64()),
                      "hash": pa.array(layout.hashes, pa.string()), "text": pa.array(layout.texts, pa.string()),
                      "passage": pa.array(layout.passages, pa.int32())})
    pq.write_table(table, folder / store.ROWS)


def _embed_rows(texts: list[str], runtime: AnyRuntime, bar: Any, cache: Any, graph: GraphBuilder) -> np.ndarray:
    """``store.VECTOR_DTYPE (len(texts), dimension)``: the embeddings of ``texts``, :data:`EMBED_STEP` rows at a time,
    each step's also handed to ``graph`` (labels: row numbers) when it builds in the background."""
    out = np.empty((len(texts), runtime.dimension), dtype=store.VECTOR_DTYPE)
    for start in range(0, len(texts), EMBED_STEP):
        part = embed_strings(texts[start : start + EMBED_STEP], runtime, bar, cache)
        out[start : start + len(part)] = part
        if graph.background:
            graph.add(np.arange(start, start + len(part), dtype=np.uint64), part)
    return out


class GraphBuilder:
    """A new HNSW graph (usearch, cosine, :data:`store.ANN_DTYPE` copies of the vectors). With ``background``,
    :meth:`add` returns at once and one worker thread adds the rows in order (usearch uses every core for one add
    and releases the GIL); :meth:`finished` waits for it. Leaving the ``with`` block stops the worker."""

    def __init__(self, dimension: int, background: bool = False) -> None:
        from usearch.index import Index

        self.ann = Index(ndim=dimension, metric=ANN_METRIC, dtype=store.ANN_DTYPE)
        self.background = background
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="sqlml-index-graph") if background else None
        self._pending: list[Future[Any]] = []

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows labelled ``ids`` (``uint64 (m,)``) with ``vectors`` (``(m, dimension)``, any float type)."""
        if self._worker is not None:
            self._pending.append(self._worker.submit(_add_in_steps, self.ann, ids, vectors))
        else:
            _add_in_steps(self.ann, ids, vectors)

    def finished(self) -> Any:
        """The graph once every row given to :meth:`add` is in it; an error inside usearch is raised here."""
        for pending in self._pending:
            pending.result()
        return self.ann

    def __enter__(self) -> GraphBuilder:
        return self

    def __exit__(self, *failure: object) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)


def _add_in_steps(ann: Any, ids: np.ndarray, vectors: np.ndarray) -> None:
    """``ann.add`` :data:`EMBED_STEP` rows at a time, each cast to float32 (bounded memory for float16 input)."""
    for start in range(0, len(ids), EMBED_STEP):
        ann.add(ids[start : start + EMBED_STEP], np.asarray(vectors[start : start + EMBED_STEP], dtype=np.float32))


def _write_ann(folder: Path, previous: store.IndexVersion | None, vectors: np.ndarray, ids: np.ndarray, stale: np.ndarray,
               fresh: np.ndarray, built: GraphBuilder) -> None:
    """The HNSW graph: ``built`` when it grew during embedding (a first build), else the live one patched (stale ids
    out, fresh rows in) when few rows changed, else one built anew."""
    from usearch.index import Index

    if built.background:
        ann = built.finished()
    elif previous is not None and len(fresh) + len(stale) <= PATCH_LIMIT * max(len(ids), 1):
        ann = Index.restore(str(previous.folder / store.ANN))  # a private, writable copy in memory
        if len(stale):
            ann.remove(stale)
        _add_in_steps(ann, ids[fresh], vectors[fresh])
    else:
        ann = built.ann
        _add_in_steps(ann, ids, vectors)
    ann.save(str(folder / store.ANN))


def _write_bm25(folder: Path, texts: list[str], previous: store.IndexVersion | None = None, reused: np.ndarray | None = None) -> None:
    """bm25s's index of ``texts`` (the unchanged rows' tokens read from ``previous``, ``reused[i]`` being row ``i``'s row
    there or -1); texts without one term (stopwords, punctuation, '') leave :data:`store.NO_TERMS` instead."""
    from sqlml.ops.index.lexical import write_bm25

    (folder / store.BM25).mkdir()
    if not write_bm25(folder / store.BM25, texts, previous.folder / store.BM25 if previous is not None else None, reused):
        (folder / store.BM25 / store.NO_TERMS).touch()  # every BM25 score is then 0
