"""Relevance of texts to a query: per-row scores, the top-k sentences of a text, top-k search.

Engine-agnostic (Arrow in, Arrow/numpy out). Semantic relevance is the cosine similarity of
L2-normalised embeddings (a dot product); the query is embedded once per call and kept per (model,
query) for the process. Lexical relevance is BM25 (:mod:`sqlml.ops.relevance.bm25`) over a well-defined corpus:
every row searched, or the sentences of one text. Hybrid is the equal-weight sum of the two scores,
each min-max normalised to ``[0, 1]`` over that corpus (Weaviate's "relative score fusion"): on
SciFact it beats reciprocal-rank fusion by 1.8 nDCG@10 (``docs/relevance.md``).

NULL text → NULL score / NULL sentence list, and NULL rows are never search hits. An empty or
whitespace-only query is an error (it has no meaning to rank by); so are ``k <= 0`` and an unknown
mode. Empty text has no sentences: ``top_k_sentences`` gives ``[]``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlml import config
from sqlml.engine.cache import EmbeddingCache
from sqlml.engine.runtime import AnyRuntime
from sqlml.errors import InvalidArgumentError
from sqlml.ops.embed import embed_strings
from sqlml.ops.inputs import valid_strings
from sqlml.ops.relevance.bm25 import bm25_scores
from sqlml.ops.sentences import split_sentences

Mode = Literal["semantic", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("semantic", "lexical", "hybrid")
#: Weight of the semantic score in hybrid mode (BM25 gets the rest): equal, not tuned.
SEMANTIC_WEIGHT = 0.5
#: Rows embedded per step while searching: bounds the vectors alive at once (32768 × d float32).
SEARCH_CHUNK = 32_768
#: Query vectors kept per process.
QUERY_MEMO_SIZE = 1024


# -- argument checks (the messages users see, also through SQL) -----------------------------------
def check_query(query: Any, function: str) -> str:
    """Return ``query`` if it is non-blank text; raise :class:`InvalidArgumentError` otherwise."""
    if not isinstance(query, str):
        raise InvalidArgumentError(f"{function}: query must be text, not {type(query).__name__}")
    if not query.strip():
        raise InvalidArgumentError(
            f"{function}: query is empty or blank; pass the text to rank by, e.g. 'interest rates'"
        )
    return query


def check_k(k: Any, function: str) -> int:
    """Return ``k`` if it is a whole number from 1 to :data:`config.MAX_COUNT`; raise :class:`InvalidArgumentError` otherwise."""
    return config.check_count(k, f"{function}: k must be a whole number >= 1")


def check_mode(mode: Any, function: str) -> str:
    """Return ``mode`` if it is one of :data:`MODES`; raise :class:`InvalidArgumentError` otherwise."""
    if mode not in MODES:
        raise InvalidArgumentError(f"{function}: mode must be 'semantic', 'lexical' or 'hybrid', not {mode!r}")
    return str(mode)


#: The columns a search adds after the table's own.
SEARCH_COLUMNS = ("score", "rank")


def check_table_columns(columns: list[str], function: str, added: Sequence[str]) -> None:
    """Raise :class:`InvalidArgumentError` if a table given to a table function has its own column of a name in
    ``added`` (any case), e.g. :data:`SEARCH_COLUMNS`.

    The results add those columns after the table's; a second column of the same name would be renamed or
    shadow one of them (SQL names ignore case).
    """
    own = next((c for c in columns if c.lower() in added), None)
    if own is not None:
        raise InvalidArgumentError(
            f"{function}: the table already has a column named {own!r}; the results add their own {' and '.join(added)} columns, "
            f"so rename it first (in SQL, use a view: CREATE VIEW v AS SELECT * RENAME ({own} AS table_{own}) FROM t)"
        )


# -- semantic ---------------------------------------------------------------------------------------
_query_memo: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
_query_memo_lock = threading.Lock()


def query_vector(query: str, runtime: AnyRuntime, cache: EmbeddingCache | None = None) -> np.ndarray:
    """The query's embedding, ``float32 (d,)``: computed once per (model, query) in this process."""
    key = (id(runtime), query)
    with _query_memo_lock:
        vector = _query_memo.get(key)
        if vector is not None:
            _query_memo.move_to_end(key)
            return vector
    vector = embed_strings([query], runtime, cache=cache)[0]
    with _query_memo_lock:
        _query_memo[key] = vector
        while len(_query_memo) > QUERY_MEMO_SIZE:
            _query_memo.popitem(last=False)
    return vector


def semantic_scores(texts: list[str], query: str, runtime: AnyRuntime, cache: EmbeddingCache | None = None) -> np.ndarray:
    """Cosine similarity of each text to ``query``: ``float32 (len(texts),)`` in ``[-1, 1]``.

    Texts are embedded :data:`SEARCH_CHUNK` at a time and only their scores kept, so memory holds at
    most one chunk of vectors whatever the number of texts.
    """
    target = query_vector(query, runtime, cache)
    scores = np.empty(len(texts), dtype=np.float32)
    for start in range(0, len(texts), SEARCH_CHUNK):
        chunk = texts[start : start + SEARCH_CHUNK]
        scores[start : start + len(chunk)] = embed_strings(chunk, runtime, cache=cache) @ target
    return scores


def relevance_array(
    texts: pa.StringArray, queries: pa.StringArray, runtime: AnyRuntime, cache: EmbeddingCache | None = None
) -> pa.FloatArray:
    """Row-wise semantic relevance of ``texts[i]`` to ``queries[i]`` as ``pa.float32()``.

    Null text or null query → null. Each distinct query is embedded once (a constant query: once per
    call, and memoised per process). Raises :class:`InvalidArgumentError` for an empty query.
    """
    valid = pc.invert(pc.or_kleene(texts.is_null(), queries.is_null()).fill_null(True))
    values = texts.filter(valid).to_pylist()
    asked = queries.filter(valid).to_pylist()
    distinct = {q: i for i, q in enumerate(dict.fromkeys(asked))}
    targets = np.stack([query_vector(check_query(q, "relevance"), runtime, cache) for q in distinct]) if distinct else None
    which = np.fromiter((distinct[q] for q in asked), dtype=np.int64, count=len(asked))
    dense = np.empty(len(values), dtype=np.float32)
    for start in range(0, len(values), SEARCH_CHUNK):
        stop = min(start + SEARCH_CHUNK, len(values))
        vectors = embed_strings(values[start:stop], runtime, cache=cache)
        dense[start:stop] = np.einsum("ij,ij->i", vectors, targets[which[start:stop]])
    mask = pc.invert(valid).to_numpy(zero_copy_only=False)
    full = np.zeros(len(texts), dtype=np.float32)
    full[~mask] = dense
    return pa.array(full, type=pa.float32(), mask=mask)


# -- fusion and ranking -----------------------------------------------------------------------------
def minmax(scores: np.ndarray) -> np.ndarray:
    """``scores`` rescaled to ``[0, 1]`` (``float64``); all equal → all 0."""
    values = scores.astype(np.float64)
    if len(values) == 0:
        return values
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def hybrid(semantic: np.ndarray, lexical: np.ndarray) -> np.ndarray:
    """Relative score fusion: ``w·minmax(semantic) + (1 - w)·minmax(bm25)``, ``w`` = :data:`SEMANTIC_WEIGHT`."""
    return SEMANTIC_WEIGHT * minmax(semantic) + (1 - SEMANTIC_WEIGHT) * minmax(lexical)


def _descending(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` sorted by descending score, ties by ascending index (a stable order)."""
    return candidates[np.lexsort((candidates, -scores[candidates].astype(np.float64)))]


def top_k(scores: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best eligible items, best first, ties by index; ``O(n + k log k)``."""
    candidates = np.flatnonzero(eligible)
    if len(candidates) > k:
        # argpartition alone may cut a tie arbitrarily: keep every item tied with the k-th score
        threshold = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
        candidates = candidates[scores[candidates] >= threshold]
    return _descending(scores, candidates)[:k]


def fused_scores(
    texts: list[str], query: str, mode: str, runtime: AnyRuntime | None, cache: EmbeddingCache | None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``texts`` for ``query`` under ``mode`` and which texts may be returned at all.

    semantic: cosine, every text eligible. lexical: BM25 over ``texts`` as the corpus, texts sharing
    no term with the query are not eligible. hybrid: :func:`hybrid` of both, every text eligible.
    """
    everything = np.ones(len(texts), dtype=bool)
    if mode == "lexical":
        lexical = bm25_scores(texts, query)
        return lexical, lexical > 0
    assert runtime is not None
    semantic = semantic_scores(texts, query, runtime, cache)
    if mode == "semantic":
        return semantic, everything
    lexical = bm25_scores(texts, query)
    return hybrid(semantic, lexical), everything


# -- sentences --------------------------------------------------------------------------------------
def top_k_sentences_array(
    texts: pa.StringArray, query: str, k: int, mode: str, runtime: AnyRuntime | None, cache: EmbeddingCache | None = None
) -> pa.ListArray:
    """The ``k`` sentences of each text most relevant to ``query``, best first: ``list<string>``.

    Sentences come from :func:`sqlml.ops.sentences.split_sentences` and are verbatim substrings.
    Ties keep text order (earlier position first). Fewer than ``k`` sentences → all of them, ranked.
    In lexical mode the BM25 corpus is the text's own sentences and sentences sharing no term with
    the query are left out (possibly giving ``[]``). The sentences of all texts of the call are
    embedded in one batch. Null text → null; empty text → ``[]``.
    """
    values = texts.to_pylist()
    split = [None if v is None else [s.text for s in split_sentences(v)] for v in values]
    sentences = [s for parts in split if parts for s in parts]
    semantic = None
    if mode != "lexical" and sentences:
        assert runtime is not None
        target = query_vector(query, runtime, cache)
        semantic = embed_strings(sentences, runtime, cache=cache) @ target
    picked: list[list[str] | None] = []
    start = 0
    for parts in split:
        if parts is None:
            picked.append(None)
            continue
        count = len(parts)
        if count == 0:  # empty or whitespace text: no sentence to score
            picked.append([])
            continue
        everything = np.ones(count, dtype=bool)
        own = None if semantic is None else semantic[start : start + count]
        if mode == "semantic":
            scores, eligible = own, everything
        else:
            lexical = bm25_scores(parts, query)
            if mode == "lexical":
                scores, eligible = lexical, lexical > 0
            else:
                scores, eligible = hybrid(own, lexical), everything
        picked.append([parts[i] for i in top_k(scores, eligible, k)])
        start += count
    return pa.array(picked, type=pa.list_(pa.string()))


# -- search -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hits:
    """Search result: ``rows`` (``int64 (m,)``, 0-based positions in the input), their ``scores``
    (``float64``: cosine, BM25 or fused in ``[0, 1]`` by mode), best first, ``m <= k``."""

    rows: np.ndarray
    scores: np.ndarray


def search_array(
    texts: pa.StringArray, query: str, k: int, mode: str, runtime: AnyRuntime | None, cache: EmbeddingCache | None = None
) -> Hits:
    """Exact top-``k`` rows of ``texts`` for ``query``; ties by row order; null rows never match.

    Complexity: embedding ``O(n)`` model calls (none for cached texts), scoring ``O(n·d)``, BM25
    ``O(total tokens)``, ranking ``O(n log n)`` for hybrid (``O(n)`` otherwise). Memory: the texts, a
    few ``n``-long score arrays and at most :data:`SEARCH_CHUNK` vectors: never the whole matrix.
    """
    values, nulls = valid_strings(texts)
    scores, eligible = fused_scores(values, query, mode, runtime, cache)
    chosen = top_k(scores, eligible, k)
    positions = np.arange(len(texts)) if nulls is None else np.flatnonzero(~nulls.to_numpy(zero_copy_only=False))
    return Hits(positions[chosen].astype(np.int64), scores[chosen].astype(np.float64))

