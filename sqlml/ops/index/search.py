"""Searching a named index: top-k keys per query (semantic, lexical, hybrid), filters, and neighbours of rows.

* **semantic**: cosine between the query's embedding and the stored vectors. Up to :data:`EXACT_ROWS` candidate
  rows are scored exactly (one matrix product for every query of the call); above that the HNSW graph finds
  candidates (:data:`RESCORE` times the rows asked for, at least :data:`GRAPH_CANDIDATES`; approximate), which
  are then scored from the stored vectors (the graph's own copies are int8).
* **lexical**: BM25 from bm25s's stored index (memory-mapped), the same tokenisation and Lucene scoring as
  ``sqlml_search``'s; rows sharing no term with the query are not returned.
* **hybrid**: ``0.5·minmax(cosine) + 0.5·minmax(BM25)`` over the candidate rows (every row up to
  :data:`EXACT_ROWS`; above, the union of the :data:`HYBRID_GRAPH_CANDIDATES` best by the graph and the
  :data:`HYBRID_CANDIDATES` best by BM25, at least 2·k each), both scored exactly on them.

A filter (``allowed`` keys) restricts the candidates with exact recall: when at most :data:`EXACT_ROWS` rows are
allowed they are scored exactly; for broader filters the graph is asked for :data:`OVERSAMPLE` times the share
needed, filtered, and a query left with fewer than ``k`` hits is scored exactly over the allowed rows. Keys
the index does not hold are ignored.

A version an incremental refresh wrote has two segments (:mod:`sqlml.ops.index.store`): every path skips its
dead rows, each segment's graph proposes candidates (pooled, then re-scored), and BM25 scores both. Engine-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sqlml.config import Settings
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import IndexStoreError
from sqlml.ops.embed import embed_strings
from sqlml.ops.index import store
from sqlml.ops.relevance.bm25 import tokenize
from sqlml.ops.relevance.scores import hybrid, top_k

#: Candidate rows scored exactly (a matrix product) rather than through the HNSW graph.
EXACT_ROWS = 50_000
#: A filtered graph search asks for this many times the hits the filter's share needs.
OVERSAMPLE = 4
#: The graph is asked for this many times the rows wanted, and at least GRAPH_CANDIDATES rows; all are re-scored
#: from the stored vectors. The graph's int8 copies lose the small differences between the vectors of an
#: anisotropic model, which a wider candidate set makes up for (recall measured in benchmarks/NOTES.md).
RESCORE = 2
GRAPH_CANDIDATES = 100
#: Above :data:`EXACT_ROWS` rows, hybrid fuses the union of this many (at least 2·k) best rows by BM25 and
#: HYBRID_GRAPH_CANDIDATES by cosine (the graph). SciFact ranked top-10 searches alike with 1,000 + 1,000, 200 + 200
#: and 100 + 200 (graph + BM25), and the graph's search time grows with its count, so the graph gives the fewest
#: (benchmarks/NOTES.md).
HYBRID_CANDIDATES = 200
#: Above :data:`EXACT_ROWS` rows, the rows (at least 2·k) hybrid takes from the graph (see :data:`HYBRID_CANDIDATES`).
HYBRID_GRAPH_CANDIDATES = 100
#: Rows and queries per block of the exact product.
BLOCK = 65_536
QUERY_BLOCK = 256
MODES = ("semantic", "lexical", "hybrid")


@dataclass(frozen=True)
class IndexHits:
    """One query's answer, best first: ``keys[i]`` with ``scores[i]`` (rank ``i + 1``) and, for a chunked index,
    ``passages[i]``, the key's best-scoring passage (``None`` otherwise)."""

    keys: list[str]
    scores: list[float]
    passages: list[str | None] | None = None

    def as_rows(self) -> list[dict[str, Any]]:
        passages = self.passages or [None] * len(self.keys)
        return [{"key": k, "score": s, "rank": i + 1, "passage": p}
                for i, (k, s, p) in enumerate(zip(self.keys, self.scores, passages, strict=True))]


def _by_key(version: store.IndexVersion, rows: np.ndarray, scores: np.ndarray, k: int) -> IndexHits:
    """Rows best first → the first ``k`` keys, each once, at its best row (its best passage when chunked)."""
    if not version.chunked:
        return IndexHits(version.key_list(rows[:k]), [float(x) for x in scores[:k]])
    groups = version.groups()[rows]
    _, first = np.unique(groups, return_index=True)
    best = np.sort(first)[:k]
    chosen = rows[best]
    return IndexHits(version.key_list(chosen), [float(x) for x in scores[best]], version.text_list(chosen))


def _rows_wanted(version: store.IndexVersion, k: int, candidates: int) -> int:
    """Rows to rank for ``k`` keys: ``k``, or for a chunked index every candidate row (exact) up to :data:`EXACT_ROWS`,
    else :data:`OVERSAMPLE` times the passages per key on average times ``k``."""
    if not version.chunked:
        return k
    if candidates <= EXACT_ROWS:
        return candidates
    per_key = version.rows / max(int(version.meta.get("keys", version.rows)), 1)
    return int(np.ceil(k * per_key * OVERSAMPLE))


def query_runtime(version: store.IndexVersion, settings: Settings, model: str | None) -> AnyRuntime:
    """The runtime that embeds queries for ``version``: ``model`` or the index's own; another model's files are refused."""
    recorded = version.meta.get("model") or {}
    runtime = runtime_for(settings, model or recorded.get("name"))
    if runtime.fingerprint != recorded.get("fingerprint"):
        raise IndexStoreError(
            f"index {version.name!r} holds embeddings of {recorded.get('id')!r}, and this search embeds queries with "
            f"{runtime.model_id!r}; leave model out to use the index's model, or {store.rebuild_hint(version.name)} with this one"
        )
    runtime.serve_queries()  # one query at a time is this runtime's usual batch
    return runtime


def search_index(
    name: str, queries: list[str | None], k: int, mode: str, settings: Settings, *, allowed: list[str] | None = None,
    model: str | None = None,
) -> list[IndexHits | None]:
    """Top-``k`` keys of index ``name`` for each query (``None`` query → ``None``); see the module doc for ``mode`` and ``allowed``."""
    version = store.load(name)
    asked = [i for i, q in enumerate(queries) if q is not None]
    out: list[IndexHits | None] = [None] * len(queries)
    if not asked:
        return out
    candidates = None if allowed is None else version.rows_of(allowed)
    want = _rows_wanted(version, k, version.live_count if candidates is None else len(candidates))
    texts = [queries[i] for i in asked]  # type: ignore[misc]
    if mode == "lexical":
        answers = [_lexical(version, q, want, candidates) for q in texts]
    elif mode == "semantic":
        answers = _semantic(version, embed_strings(texts, query_runtime(version, settings, model)), want, candidates)  # type: ignore[arg-type]
    else:
        # the model embeds the queries while the first query's BM25 side is scored: on a CPU the two overlap
        # (both cost milliseconds a query over a million rows)
        pending = query_runtime(version, settings, model).submit(texts)  # type: ignore[arg-type]
        first = _lexical_side(version, texts[0], want, candidates)  # type: ignore[arg-type]
        vectors = pending.result()
        answers = [_hybrid(version, first if i == 0 else _lexical_side(version, q, want, candidates), v, want, candidates)  # type: ignore[arg-type]
                   for i, (q, v) in enumerate(zip(texts, vectors, strict=True))]
    for i, (rows, scores) in zip(asked, answers, strict=True):
        out[i] = _by_key(version, rows, scores, k)
    return out


def _exact(version: store.IndexVersion, vectors: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact top-k by cosine over ``rows`` (``None``: every live row), :data:`QUERY_BLOCK` query vectors at a time
    (memory: ``QUERY_BLOCK × rows`` floats)."""
    pool = version.live_rows() if rows is None else rows
    everything = np.ones(len(pool), dtype=bool)
    answers = []
    for first in range(0, len(vectors), QUERY_BLOCK):
        part = vectors[first : first + QUERY_BLOCK]
        scores = np.empty((len(part), len(pool)), dtype=np.float32)
        for start in range(0, len(pool), BLOCK):
            block = pool[start : start + BLOCK]
            scores[:, start : start + len(block)] = part @ version.vectors_of(block).T
        for row in scores:
            best = top_k(row, everything, k)
            answers.append((pool[best], row[best]))
    return answers


def _semantic(version: store.IndexVersion, vectors: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    candidates = version.live_count if rows is None else len(rows)
    if candidates <= EXACT_ROWS:
        return _exact(version, vectors, k, rows)
    share = candidates / version.rows  # dead rows and a filter's rejects take their share of the graph's answer
    count = min(version.rows, max(GRAPH_CANDIDATES, RESCORE * int(np.ceil(k / share)) * (OVERSAMPLE if rows is not None else 1)))
    answers = []
    for q, positions in enumerate(_graph_rows(version, vectors, count, rows)):
        if len(positions) < min(k, candidates):  # a selective filter emptied the graph's answer: score the allowed rows exactly
            answers.append(_exact(version, vectors[q : q + 1], k, rows)[0])
            continue
        scores = _cosines(version, positions, vectors[q])
        best = top_k(scores, np.ones(len(scores), dtype=bool), k)
        answers.append((positions[best], scores[best]))
    return answers


def _cosines(version: store.IndexVersion, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``float32 (len(rows),)``: the stored vectors of ``rows`` against one query ``vector``, without BLAS: one
    query's product is small, and OpenBLAS's threads, left spinning after it, slow the next query's embedding
    on the model's threads (benchmarks/NOTES.md)."""
    return np.einsum("ij,j->i", version.vectors_of(rows), vector)


def _graph_rows(version: store.IndexVersion, vectors: np.ndarray, count: int, rows: np.ndarray | None) -> list[np.ndarray]:
    """Per query, the rows among each segment graph's ``count`` nearest that are in ``rows`` (``None``: any live
    row), ascending (so that ties go to the earlier row, as in exact scoring)."""
    mask = None if rows is None else _row_mask(version, rows)
    out = []
    for labels in version.graph_labels(vectors, count):
        positions = version.rows_of_ids(labels)
        if mask is not None:
            positions = positions[mask[positions]]
        elif len(version.dead):
            positions = positions[version.live_mask()[positions]]
        out.append(np.sort(positions))
    return out


def _row_mask(version: store.IndexVersion, rows: np.ndarray) -> np.ndarray:
    """``bool (version.rows,)``: true at ``rows``."""
    mask = np.zeros(version.rows, dtype=bool)
    mask[rows] = True
    return mask


def _bm25(version: store.IndexVersion, query: str) -> np.ndarray:
    """BM25 of every row for ``query``: ``float32 (rows,)``, 0 for dead rows; query terms the corpus never uses score nothing."""
    return version.bm25_scores(tokenize([query])[0])


def _lexical(version: store.IndexVersion, query: str, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    scores = _bm25(version, query)
    eligible = scores > 0
    if rows is not None:
        eligible &= _row_mask(version, rows)
    best = top_k(scores, eligible, k)
    return best, scores[best]


@dataclass(frozen=True)
class _LexicalSide:
    """A hybrid query's BM25 half: ``scores`` of every row, and above :data:`EXACT_ROWS` candidates its ``best`` rows."""

    scores: np.ndarray
    best: np.ndarray | None


def _lexical_side(version: store.IndexVersion, query: str, k: int, rows: np.ndarray | None) -> _LexicalSide:
    """BM25 of every row for ``query`` and, when the candidates exceed :data:`EXACT_ROWS`, the :data:`HYBRID_CANDIDATES`
    (at least 2·k) best allowed rows by it; needs no query embedding."""
    lexical = _bm25(version, query)
    if (version.live_count if rows is None else len(rows)) <= EXACT_ROWS:
        return _LexicalSide(lexical, None)
    wanted = max(HYBRID_CANDIDATES, 2 * k)
    # without a filter, no copy of the million-row score array: a hybrid query's budget is milliseconds
    best = top_k(lexical, lexical > 0, wanted) if rows is None else rows[top_k(lexical[rows], lexical[rows] > 0, wanted)]
    return _LexicalSide(lexical, best)


def _hybrid(version: store.IndexVersion, side: _LexicalSide, vector: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Fused scores over the candidates: every candidate row up to :data:`EXACT_ROWS`; above that the union of the
    :data:`HYBRID_GRAPH_CANDIDATES` best rows by cosine (graph) and the best by BM25 (``side.best``), both scored exactly."""
    lexical = side.scores
    if side.best is not None:
        wanted = max(HYBRID_GRAPH_CANDIDATES, 2 * k)
        count = int(np.ceil(wanted * version.rows / version.live_count)) if rows is None \
            else min(version.rows, int(np.ceil(wanted * version.rows / len(rows))) * OVERSAMPLE)
        by_cosine = _graph_rows(version, vector[None, :], count, rows)[0]  # every allowed hit, scored exactly below
        pool = np.union1d(by_cosine, side.best)
    else:
        pool = version.live_rows() if rows is None else rows
    semantic = np.concatenate([_cosines(version, pool[s : s + BLOCK], vector) for s in range(0, len(pool), BLOCK)]) \
        if len(pool) else np.zeros(0, dtype=np.float32)
    fused = hybrid(semantic, lexical[pool])
    best = top_k(fused, np.ones(len(pool), dtype=bool), k)
    return pool[best], fused[best]


def neighbours(
    name: str, keys: list[str | None], k: int, *, other: str | None = None, min_score: float | None = None,
) -> list[IndexHits | None]:
    """For each key of index ``name``, the ``k`` nearest keys of index ``other`` (default: the same index, the key
    itself left out) by cosine of the stored vectors, at least ``min_score`` when given. A NULL key → ``None``;
    a key the index does not hold → ``[]``. Exact (blocked matrix products) up to :data:`EXACT_ROWS` rows of
    ``other``, the HNSW graph above. Chunked indexes: a key is the normalised mean of its passages, and a target
    key scores its best passage."""
    source = store.load(name)
    target = source if other is None or other == name else store.load(other)
    if (source.meta.get("model") or {}).get("fingerprint") != (target.meta.get("model") or {}).get("fingerprint"):
        raise IndexStoreError(f"indexes {name!r} and {other!r} hold embeddings of different models; build both with one model")
    held = source.positions()
    present = [i for i, key in enumerate(keys) if key is not None and key in held]
    out: list[IndexHits | None] = [None if key is None else IndexHits([], []) for key in keys]
    if not present:
        return out
    same = target is source
    vectors = np.stack([_key_vector(source, keys[i]) for i in present])  # type: ignore[arg-type]
    want = _rows_wanted(target, k + 1 if same else k, target.live_count)
    if target.chunked:
        want = max(want, k + 1)
    for i, (found, scores) in zip(present, _semantic(target, vectors, want, None), strict=True):
        keep = np.ones(len(found), dtype=bool) if not same else np.array([key != keys[i] for key in target.key_list(found)], dtype=bool)
        if min_score is not None:
            keep &= scores >= min_score
        out[i] = _by_key(target, found[keep], scores[keep], k)
    return out


def _key_vector(version: store.IndexVersion, key: str) -> np.ndarray:
    """A key's stored vector: its row's, or the normalised mean of its passages' in a chunked index."""
    rows = version.rows_of([key])
    vector = version.vectors_of(rows).mean(axis=0)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
