"""The lexical half of an index: bm25s's own index of the texts, its score matrix computed with numpy.

bm25s builds its matrix one document at a time in Python (a ``Counter`` per document: about 14 µs each, 14 s
for a million rows on this machine's cores) and documents ``BM25.build_index_from_ids`` as the method to
override for another construction. :class:`ArrayBM25` overrides it with a few whole-corpus array operations
giving bm25s's own matrix for its default Lucene method (``k1 = 1.5``, ``b = 0.75``: the scoring of
:mod:`sqlml.ops.relevance.bm25`); bm25s still tokenises, saves, loads memory-mapped and scores. A test checks
the arrays equal bm25s's.

Each row's token ids are saved beside bm25s's files (:data:`TOKENS`), so a refresh tokenises only the rows
whose text changed: tokenising is per text, and the matrix depends only on each row's tokens (a term no row
uses any more keeps its id and an empty column, and scores nothing).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from sqlml.ops.index.segments import positions_within
from sqlml.ops.relevance.bm25 import tokenize_ids

#: In the bm25s folder: ``lengths`` (``int32 (rows,)``) and ``ids`` (``int32``, every row's token ids in row order,
#: ids of bm25s's saved vocabulary).
TOKENS = "sqlml_tokens.npz"
VOCABULARY = "vocab.index.json"  # bm25s's name for its saved vocabulary


class ArrayBM25(bm25s.BM25):
    """``bm25s.BM25`` (method ``'lucene'`` only) whose index is built with numpy instead of a loop per document."""

    def build_index_from_ids(self, unique_token_ids: list[int], corpus_token_ids: list[list[int]], show_progress: bool = True,
                             leave_progress: bool = False) -> dict[str, Any]:
        """bm25s's score matrix in CSC form (rows: documents, columns: token ids): ``{'data', 'indices', 'indptr',
        'num_docs'}``, as ``bm25s.BM25.build_index_from_ids`` returns it; progress arguments are ignored."""
        if self.method != "lucene" or self.idf_method not in (None, "lucene"):
            raise ValueError(f"ArrayBM25 builds bm25s's 'lucene' scores only, not {self.method!r}")
        self.nonoccurrence_array = None  # as bm25s sets it: the Lucene method has none
        lengths, tokens = _flat(corpus_token_ids)
        return score_matrix(lengths, tokens, len(unique_token_ids), self.k1, self.b, self.dtype, self.int_dtype)


def score_matrix(lengths: np.ndarray, tokens: np.ndarray, n_vocab: int, k1: float, b: float, dtype: str = "float32",
                 int_dtype: str = "int32") -> dict[str, Any]:
    """bm25s's Lucene score matrix (CSC, rows: documents, columns: token ids ``0 .. n_vocab - 1``) of documents with
    ``lengths[i]`` tokens each, ``tokens`` holding them all in document order."""
    n_docs = len(lengths)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pairs, tf = np.unique(docs * n_vocab + tokens, return_counts=True)  # (document, token) pairs, by document then token
    pair_doc, pair_token = pairs // n_vocab, pairs % n_vocab
    df = np.bincount(pair_token, minlength=n_vocab)
    # as bm25s: the idf stored as float32, then float64 arithmetic with the float64 mean length, stored as float32
    idf = np.zeros(n_vocab, dtype=np.float32)
    seen = df > 0
    idf[seen] = np.log(1 + (n_docs - df[seen] + 0.5) / (df[seen] + 0.5))
    mean_length = lengths.mean() if n_docs else np.float64(0.0)
    tfc = tf / (k1 * ((1 - b) + b * lengths[pair_doc] / mean_length) + tf)
    scores = (idf[pair_token].astype(np.float64) * tfc).astype(dtype)
    order = np.argsort(pair_token, kind="stable")  # by token, documents ascending within each
    indptr = np.concatenate([[0], np.cumsum(df)])
    return {"data": scores[order], "indices": pair_doc[order].astype(int_dtype), "indptr": indptr, "num_docs": n_docs}


def write_bm25(folder: Path, texts: list[str], previous: Path | None = None, reused: np.ndarray | None = None) -> bool:
    """Save bm25s's index of ``texts`` into ``folder``; ``False`` (nothing written) when no text has a term, since
    bm25s cannot index a corpus without one.

    ``previous``: the bm25s folder of the version being refreshed, and ``reused[i]``: the previous row whose text
    row ``i`` has (-1: a new or changed text). Those rows' tokens are read from ``previous`` instead of tokenised
    again; a folder without saved tokens (or without terms) means tokenising everything.
    """
    retriever = ArrayBM25()
    if previous is not None and reused is not None and (previous / TOKENS).exists():
        lengths, tokens, vocabulary = _tokens_reusing(texts, previous, reused)
        if not len(tokens):
            return False
        retriever.scores = score_matrix(lengths, tokens, max(vocabulary.values()) + 1, retriever.k1, retriever.b,
                                        retriever.dtype, retriever.int_dtype)
        retriever.nonoccurrence_array = None
        retriever.vocab_dict = vocabulary
        retriever.unique_token_ids_set = set(vocabulary.values())
    else:
        tokenized = tokenize_ids(texts)
        if not tokenized.vocab:
            return False
        retriever.index(tokenized, show_progress=False)
        lengths, tokens = _flat(tokenized.ids)
    retriever.save(str(folder), show_progress=False)
    np.savez(folder / TOKENS, lengths=lengths.astype(np.int32), ids=tokens.astype(np.int32))
    return True


def _flat(token_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, tokens)``, both ``int64``: each document's token count, and every token in document order."""
    lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
    return lengths, np.fromiter(itertools.chain.from_iterable(token_ids), dtype=np.int64, count=int(lengths.sum()))


def _tokens_reusing(texts: list[str], previous: Path, reused: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """``(lengths, tokens, vocabulary)`` of ``texts``: reused rows' tokens from ``previous``, the others tokenised, new
    terms appended to the previous vocabulary (bm25s's, with its empty token)."""
    saved = np.load(previous / TOKENS)
    old_lengths, old_tokens = saved["lengths"].astype(np.int64), saved["ids"].astype(np.int64)
    vocabulary: dict[str, int] = json.loads((previous / VOCABULARY).read_text(encoding="utf-8"))
    fresh = np.flatnonzero(reused < 0)
    tokenized = tokenize_ids([texts[i] for i in fresh.tolist()])
    local = sorted(tokenized.vocab.items(), key=lambda item: item[1])
    next_id = max(vocabulary.values(), default=-1) + 1
    for term, _ in local:
        if term not in vocabulary:
            vocabulary[term], next_id = next_id, next_id + 1
    to_global = np.array([vocabulary[term] for term, _ in local], dtype=np.int64)
    fresh_lengths, fresh_tokens = _flat(tokenized.ids)
    # one source of tokens, the old ones then the fresh ones in global ids; each row copies its slice of it
    source = np.concatenate([old_tokens, to_global[fresh_tokens]])
    lengths, first = np.zeros(len(reused), dtype=np.int64), np.zeros(len(reused), dtype=np.int64)
    kept = np.flatnonzero(reused >= 0)
    lengths[kept], first[kept] = old_lengths[reused[kept]], (np.cumsum(old_lengths) - old_lengths)[reused[kept]]
    lengths[fresh], first[fresh] = fresh_lengths, len(old_tokens) + np.cumsum(fresh_lengths) - fresh_lengths
    return lengths, source[np.repeat(first, lengths) + positions_within(lengths)], vocabulary
