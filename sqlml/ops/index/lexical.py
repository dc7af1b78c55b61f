"""The lexical half of an index: bm25s's own index of the texts, its score matrix computed with numpy.

bm25s builds its matrix one document at a time in Python (a ``Counter`` per document: about 14 µs each, 14 s
for a million rows on this machine's cores) and documents ``BM25.build_index_from_ids`` as the method to
override for another construction. :class:`ArrayBM25` overrides it with a few whole-corpus array operations
giving bm25s's own matrix for its default Lucene method (``k1 = 1.5``, ``b = 0.75``: the scoring of
:mod:`sqlml.ops.relevance.bm25`); bm25s still tokenises, saves, loads memory-mapped and scores. A test checks
the arrays equal bm25s's.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from sqlml.ops.relevance.bm25 import tokenize_ids


class ArrayBM25(bm25s.BM25):
    """``bm25s.BM25`` (method ``'lucene'`` only) whose index is built with numpy instead of a loop per document."""

    def build_index_from_ids(self, unique_token_ids: list[int], corpus_token_ids: list[list[int]], show_progress: bool = True,
                             leave_progress: bool = False) -> dict[str, Any]:
        """bm25s's score matrix in CSC form (rows: documents, columns: token ids): ``{'data', 'indices', 'indptr',
        'num_docs'}``, as ``bm25s.BM25.build_index_from_ids`` returns it; progress arguments are ignored."""
        if self.method != "lucene" or self.idf_method not in (None, "lucene"):
            raise ValueError(f"ArrayBM25 builds bm25s's 'lucene' scores only, not {self.method!r}")
        self.nonoccurrence_array = None  # as bm25s sets it: the Lucene method has none
        n_docs, n_vocab = len(corpus_token_ids), len(unique_token_ids)
        lengths = np.fromiter(map(len, corpus_token_ids), dtype=np.int64, count=n_docs)
        tokens = np.fromiter(itertools.chain.from_iterable(corpus_token_ids), dtype=np.int64, count=int(lengths.sum()))
        docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        pairs, tf = np.unique(docs * n_vocab + tokens, return_counts=True)  # (document, token) pairs, by document then token
        pair_doc, pair_token = pairs // n_vocab, pairs % n_vocab
        df = np.bincount(pair_token, minlength=n_vocab)
        # as bm25s: the idf stored as float32, then float64 arithmetic with the float64 mean length, stored as float32
        idf = np.zeros(n_vocab, dtype=np.float32)
        seen = df > 0
        idf[seen] = np.log(1 + (n_docs - df[seen] + 0.5) / (df[seen] + 0.5))
        mean_length = lengths.mean() if n_docs else np.float64(0.0)
        tfc = tf / (self.k1 * ((1 - self.b) + self.b * lengths[pair_doc] / mean_length) + tf)
        scores = (idf[pair_token].astype(np.float64) * tfc).astype(self.dtype)
        order = np.argsort(pair_token, kind="stable")  # by token, documents ascending within each
        indptr = np.concatenate([[0], np.cumsum(df)])
        return {"data": scores[order], "indices": pair_doc[order].astype(self.int_dtype), "indptr": indptr, "num_docs": n_docs}


def write_bm25(folder: Path, texts: list[str]) -> bool:
    """Save bm25s's index of ``texts`` into ``folder``; ``False`` (nothing written) when no text has a term, since
    bm25s cannot index a corpus without one."""
    tokens = tokenize_ids(texts)
    if not tokens.vocab:
        return False
    retriever = ArrayBM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(str(folder))
    return True
