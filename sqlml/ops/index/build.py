"""Building and refreshing a named index: embed only what changed, then write a new version atomically.

A refresh compares each row's text with the live version's for the same key (Arrow's hash join and string
comparison; a chunked index compares blake2b-128 hashes of the whole texts, its stored texts being passages):
unchanged rows keep their vectors (no model call), changed and new rows are embedded, keys no longer given are
removed. While at most :data:`INCREMENTAL_LIMIT` of the rows would be dead in the base or outside it, the new
version writes only its own rows (the changed and new ones, and those carried from the previous version's own
segment, whose graph is patched) beside the base and its dead rows (:mod:`sqlml.ops.index.store`); otherwise it
writes a whole version, graph built anew and BM25 recounted from the saved tokens of the unchanged rows and the
new texts' tokens. A first build fills its graph in a background thread while the next rows are embedded
(usearch releases the GIL), so its construction overlaps the model's work.
Engine-agnostic: SQL (``sqlml_index``), the CLI (``sqlml index``) and Python (``sqlml.Index``) call :func:`build_index`.
"""

from __future__ import annotations

import hashlib
import json
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
from sqlml.ops.index.runs import positions_within
from sqlml.ops.inputs import as_string_array
from sqlml.version import __version__

#: ``chunk`` values: one vector per row (``None``), or per sentence-aligned passage of a long text.
CHUNKING = (None, "sentences")
#: A refresh writes only its changed rows (beside the base's) while at most this share of the rows is dead in the
#: base or outside it; above, it writes a whole version (graph built anew, lexical statistics recounted).
INCREMENTAL_LIMIT = 0.2
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
        if set(map(type, keys)) <= {str}:  # text keys (one C-level pass): no per-key conversion
            return pa.array(keys, type=pa.string())
        return pa.array([None if k is None else k if isinstance(k, str) else str(k) for k in keys], type=pa.string())
    if hasattr(keys, "to_arrow"):  # polars Series
        keys = keys.to_arrow()
    if isinstance(keys, (pa.Array, pa.ChunkedArray)) and (pa.types.is_integer(keys.type) or pa.types.is_floating(keys.type)):
        keys = keys.cast(pa.string())
    return as_string_array(keys, "keys")


def check_rows(keys: Any, texts: Any, function: str) -> tuple[Any, Any, int]:
    """``(keys, texts, skipped)`` as Arrow strings, rows with NULL text dropped; keys must be non-NULL and distinct."""
    import pyarrow.compute as pc

    key_array, text_array = keys_as_text(keys), as_string_array(texts, "texts")
    if len(key_array) != len(text_array):
        raise InvalidArgumentError(f"{function}: keys and texts differ in length ({len(key_array)} vs {len(text_array)})")
    if key_array.null_count:
        row = pc.index(key_array.is_null(), True).as_py() + 1
        raise InvalidArgumentError(f"{function}: a key is NULL (row {row}); every row needs a key that joins back to the table")
    if pc.count_distinct(key_array).as_py() != len(key_array):
        counts = pc.value_counts(key_array)
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))[0].as_py()
        raise InvalidArgumentError(f"{function}: key {repeated!r} appears more than once; the key column must be unique (e.g. a primary key)")
    skipped = text_array.null_count
    if skipped:
        kept = text_array.is_valid()
        key_array, text_array = key_array.filter(kept), text_array.filter(kept)
    return key_array, text_array, skipped


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
    if not len(keys_in):
        raise InvalidArgumentError("sqlml_index: no row has a text to index (every text is NULL, or there are no rows)")
    settings = settings or Settings.resolve()
    runtime = runtime_for(settings)
    with store.writer(name) as folder:
        previous = _previous(name, runtime, rebuild, chunk)
        hashes = [text_hash(t) for t in texts_in.to_pylist()] if chunk else None  # a chunked row's text is a passage
        old, unchanged, removed = _compare(previous, keys_in, texts_in, hashes)
        counts = {"added": int((old < 0).sum()), "updated": int(((old >= 0) & ~unchanged).sum()), "removed": len(removed),
                  "unchanged": int(unchanged.sum())}
        same_rows = previous is not None and counts["added"] == counts["updated"] == counts["removed"] == 0
        if previous is not None and same_rows and source in (None, previous.meta.get("source")):  # nothing changed: no new version
            return IndexReport(name, previous.version, len(keys_in), skipped=skipped, seconds=round(time.perf_counter() - started, 3),
                               bytes=store.version_bytes(previous.folder), **counts)
        changed = np.flatnonzero(~unchanged)
        changed_texts = texts_in.take(changed).to_pylist()
        fresh_hashes = [hashes[i] for i in changed.tolist()] if hashes is not None else [text_hash(t) for t in changed_texts]
        pieces = pieces_of(changed_texts, runtime) if chunk else [[t] for t in changed_texts]
        plan = _incremental_plan(previous, old, unchanged, removed, [len(p) for p in pieces])
        # a first build's rows are its fresh rows in order, labelled 0, 1, ...: its graph grows as they are embedded
        with GraphBuilder(runtime.dimension, background=previous is None) as graph:
            with progress.progress_bar(sum(map(len, pieces)), "embed", progress.enabled(show_progress, False)) as bar:
                cache = get_cache(settings.cache, runtime.device)  # as sqlml_search: on for CPU models unless SQLML_CACHE=0
                fresh_vectors = _embed_rows([p for group in pieces for p in group], runtime, bar, cache, graph)
            rows = plan.own if plan is not None else np.arange(len(keys_in))
            layout = _layout(previous, keys_in.take(rows), unchanged[rows], old[rows], pieces, fresh_hashes, fresh_vectors)
            next_id = int(previous.meta.get("next_id", previous.rows)) if previous is not None else 0
            fresh_rows = np.flatnonzero(layout.reused < 0)
            layout.ids[fresh_rows] = np.arange(next_id, next_id + len(fresh_rows), dtype=np.uint64)
            version = store.next_version(folder)
            carried = previous.segments[-1] if plan is not None and len(previous.segments) == 2 else None  # type: ignore[union-attr]
            with new_folder(folder / f"v{version}") as tmp, ThreadPoolExecutor(1, thread_name_prefix="sqlml-index-graph") as writer:
                # the graph is finished and written beside the other files (usearch releases the GIL): a first build's
                # graph may still be growing from the embedding, a refresh's own graph is patched meanwhile
                graph_written = writer.submit(_write_ann, tmp, layout, graph, carried)
                _write_rows(tmp, layout)
                np.save(tmp / store.VECTORS, layout.vectors)
                if plan is not None:
                    np.save(tmp / store.DEAD, plan.dead)
                    base = previous.segments[0]  # type: ignore[union-attr]
                    own_reused = np.where(layout.reused >= base.rows, layout.reused - base.rows, -1)
                    _write_bm25(tmp, layout.texts, [previous.segments[-1].folder], own_reused, beside=base.folder)  # type: ignore[union-attr]
                else:
                    _write_bm25(tmp, layout.texts, [s.folder for s in previous.segments] if previous is not None else None, layout.reused)
                graph_written.result()
                now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                meta = {
                    "format_version": store.FORMAT_VERSION, "name": name, "version": version,
                    "source": source if source is not None else (previous.meta.get("source") if previous is not None else None),
                    "model": {"name": runtime.model_name, "id": runtime.model_id, "fingerprint": runtime.fingerprint,
                              "dimension": runtime.dimension},
                    "chunk": chunk, "keys": len(keys_in), "rows": len(layout.keys), "next_id": next_id + len(fresh_rows),
                    **({"base": previous.segments[0].folder.name} if plan is not None else {}),  # type: ignore[union-attr]
                    "last_change": {**counts, "skipped": skipped},
                    "created_at": previous.meta.get("created_at", now) if previous is not None else now, "updated_at": now,
                    "sqlml_version": __version__,
                }
                (tmp / store.META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        store.publish(folder, folder / f"v{version}")
    return IndexReport(name, version, len(keys_in), skipped=skipped, seconds=round(time.perf_counter() - started, 3),
                       bytes=store.version_bytes(folder / f"v{version}"), **counts)


def _compare(previous: store.IndexVersion | None, keys: Any, texts: Any, hashes: list[str] | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(old, unchanged, removed)`` for the rows ``keys``/``texts`` (Arrow strings) against ``previous``: ``old[i]``
    (``int64``) is key ``i``'s first live row there (-1: a new key), ``unchanged[i]`` whether its text is the same
    (compared whole, or by ``hashes`` of the whole texts when the stored texts are passages), ``removed`` (``int64``,
    ascending) the first rows of the live keys no longer given. Arrow's hash joins: no Python loop over the rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    old = np.full(len(keys), -1, dtype=np.int64)
    if previous is None:
        return old, np.zeros(len(keys), dtype=bool), np.zeros(0, dtype=np.int64)
    starts = previous.live_starts()
    live_keys = previous.take("keys", starts).cast(keys.type)
    texts = texts.cast(pa.large_string())  # offsets past 2 GiB of text
    at = pc.index_in(keys, value_set=live_keys)
    found = at.is_valid().to_numpy(zero_copy_only=False)
    hit = at.drop_null().to_numpy(zero_copy_only=False)
    old[found] = starts[hit]
    before = np.where(found, old, 0)
    if hashes is None:
        same = pc.equal(texts, previous.take("texts", before).cast(pa.large_string())).to_numpy(zero_copy_only=False)
    else:
        same = np.array(previous.take("hashes", before).to_pylist(), dtype=object) == np.array(hashes, dtype=object)
    given = np.zeros(len(starts), dtype=bool)
    given[hit] = True
    return old, found & same, starts[~given]


@dataclass(frozen=True)
class IncrementalPlan:
    """An incremental refresh: ``own`` (``int64``, ascending): the input keys whose rows the new version writes
    itself (new, changed, and those written since the base); ``dead`` (``int64``, ascending): the base's rows it no
    longer holds (removed or changed keys')."""

    own: np.ndarray
    dead: np.ndarray


def _incremental_plan(previous: store.IndexVersion | None, old: np.ndarray, unchanged: np.ndarray, removed: np.ndarray,
                      fresh_sizes: list[int]) -> IncrementalPlan | None:
    """The incremental refresh of ``previous``, or ``None`` for a whole version: no previous version, tokens not
    saved (an index written before they were), or more than :data:`INCREMENTAL_LIMIT` of the rows dead in the base
    or outside it. ``old``, ``unchanged``, ``removed``: as :func:`_compare` gives them; ``fresh_sizes``: the rows of
    each changed key, in order."""
    from sqlml.ops.index.lexical import has_tokens

    if previous is None or not all(has_tokens(s.folder / store.BM25) for s in previous.segments):
        return None
    base_rows = previous.segments[0].rows
    gone = previous.rows_from_starts(np.union1d(old[(old >= 0) & ~unchanged], removed))
    dead = np.union1d(previous.dead, gone[gone < base_rows])
    own = np.flatnonzero(~unchanged | (old >= base_rows))
    own_rows = int(sum(fresh_sizes)) + int(previous.key_sizes(old[own[unchanged[own]]]).sum())
    if len(dead) + own_rows > INCREMENTAL_LIMIT * (base_rows - len(dead) + own_rows):
        return None
    return IncrementalPlan(own, dead.astype(np.int64))


@dataclass
class Layout:
    """The rows of a new version, in order: one per key, or per passage of a chunked index (a key's passages
    consecutive); ``keys``, ``hashes`` and ``texts`` are Arrow strings. ``reused[i]``: the previous version's row
    that row ``i`` copies (its vector and id), or -1."""

    keys: Any
    hashes: Any
    texts: Any
    passages: np.ndarray
    vectors: np.ndarray
    ids: np.ndarray
    reused: np.ndarray


def _layout(previous: store.IndexVersion | None, keys: Any, unchanged: np.ndarray, old: np.ndarray, pieces: list[list[str]],
            fresh_hashes: list[str], fresh_vectors: np.ndarray) -> Layout:
    """Unchanged ``keys`` keep every row of theirs from ``previous`` (``old[i]``: key ``i``'s first row there); the
    changed ones, in order, get their ``pieces``, ``fresh_hashes`` and the next rows of ``fresh_vectors``. Array
    operations over rows (a refresh of a million rows leaves most unchanged)."""
    import pyarrow as pa

    sizes = np.zeros(len(keys), dtype=np.int64)  # rows of each key in the new version
    if previous is not None and unchanged.any():
        sizes[unchanged] = previous.key_sizes(old[unchanged])
    changed = np.flatnonzero(~unchanged)
    sizes[changed] = [len(group) for group in pieces]
    owner = np.repeat(np.arange(len(keys)), sizes)  # each new row's key
    passages = positions_within(sizes)
    fresh_start = np.zeros(len(keys), dtype=np.int64)  # a changed key's first row of fresh_vectors
    fresh_start[changed] = np.cumsum(sizes[changed]) - sizes[changed]
    kept = unchanged[owner]
    where = np.where(kept, old[owner] + passages, -(1 + fresh_start[owner] + passages))  # >= 0: a previous row
    # each new row's source among the kept rows' values (first) and the fresh ones (after them)
    source = np.empty(len(where), dtype=np.int64)
    source[kept] = np.arange(int(kept.sum()))
    source[~kept] = int(kept.sum()) + (-1 - where[~kept])
    # one per fresh row, in order; texts as large strings: a million rows' texts may pass int32 offsets' 2 GiB
    fresh_texts = pa.array([text for group in pieces for text in group], pa.large_string())
    fresh_row_hashes = pa.array(fresh_hashes, pa.string()).take(np.searchsorted(changed, owner[~kept]))
    kept_rows = where[kept]

    def merged(column: str, fresh_values: Any) -> Any:
        """The kept rows' ``column`` from ``previous`` and ``fresh_values`` (one per fresh row), in row order."""
        kept_values = previous.take(column, kept_rows) if previous is not None else pa.array([], fresh_values.type)
        return pa.concat_arrays([kept_values.cast(fresh_values.type), fresh_values]).take(source)

    texts = merged("texts", fresh_texts)
    hashes = merged("hashes", fresh_row_hashes)
    vectors = np.empty((len(where), fresh_vectors.shape[1]), dtype=store.VECTOR_DTYPE)
    ids = np.zeros(len(where), dtype=np.uint64)
    if previous is not None and kept.any():
        vectors[kept] = previous.vectors_of(kept_rows, store.VECTOR_DTYPE)
        ids[kept] = previous.ids[kept_rows]
    vectors[~kept] = fresh_vectors[-(1 + where[~kept])]
    return Layout(keys.take(owner), hashes, texts, passages.astype(np.int32), vectors, ids, np.where(kept, where, -1))


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
    import pyarrow.feather as feather

    table = pa.table({"key": layout.keys.cast(pa.string()), "id": pa.array(layout.ids, pa.uint64()),
                      "hash": layout.hashes, "text": layout.texts,
                      "passage": pa.array(layout.passages, pa.int32())})
    # one record batch: each column is one array on the reader's memory map
    feather.write_feather(table, str(folder / store.ROWS), compression="uncompressed", chunksize=max(len(table), 1))


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


def _write_ann(folder: Path, layout: Layout, graph: GraphBuilder, carried: store.Segment | None = None) -> None:
    """The HNSW graph of the version's own rows: ``graph`` as it grew during embedding (a first build); or
    ``carried``'s graph (the rows an incremental refresh carries forward from the previous version's own segment)
    with its rows no longer held removed and the fresh rows added; or ``graph`` built now from every row."""
    from usearch.index import Index

    if graph.background:
        ann = graph.finished()
    elif carried is not None and carried.rows:
        ann = Index.restore(str(carried.folder / store.ANN))  # a private, writable copy in memory
        stale = np.setdiff1d(carried.ids, layout.ids[layout.reused >= 0])
        if len(stale):
            ann.remove(stale)
        fresh = np.flatnonzero(layout.reused < 0)
        _add_in_steps(ann, layout.ids[fresh], layout.vectors[fresh])
    else:
        ann = graph.ann
        _add_in_steps(ann, layout.ids, layout.vectors)
    ann.save(str(folder / store.ANN))


def _write_bm25(folder: Path, texts: Any, previous: list[Path] | None = None, reused: np.ndarray | None = None,
                beside: Path | None = None) -> None:
    """bm25s's index of ``texts``, reusing the tokens saved in the ``previous`` version folders (``reused[i]``: row
    ``i``'s row in them, -1: tokenise it), scored beside version folder ``beside``'s rows when given; texts without
    one term (stopwords, punctuation, '') leave :data:`store.NO_TERMS` beside the tokens."""
    from sqlml.ops.index.lexical import write_bm25

    (folder / store.BM25).mkdir()
    if not write_bm25(folder / store.BM25, texts, [p / store.BM25 for p in previous] if previous else None, reused,
                      beside / store.BM25 if beside is not None else None):
        (folder / store.BM25 / store.NO_TERMS).touch()  # every BM25 score is then 0
