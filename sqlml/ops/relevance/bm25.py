"""Lexical relevance: BM25 scores of a corpus against one query.

Tokenisation is ``bm25s``'s (the same for corpus and query): lowercase, words of two or more
letters/digits, English stopwords removed, Snowball English stemming (``PyStemmer``).
``docs/relevance.md`` shows what each choice does to nDCG@10 on SciFact. Scoring is ``bm25s``'s
Lucene variant with ``k1 = 1.5, b = 0.75``: ``bm25s``'s defaults, the setting of MTEB's BM25 baseline
(SciFact nDCG@10 68.74), so our number compares with the published one (68.60 here; 67.91 with
Anserini's ``k1 = 1.2``). A test checks that the scores equal ``bm25s.BM25(...).get_scores``.

Why not ``bm25s.BM25.index`` itself: it keeps every token id of every document as Python lists
while indexing, several GB for a million rows. For one query only three things matter: each
document's length, and the frequency of each query term in it, with its document frequency. So the
corpus is tokenised in chunks and reduced to those, in ``O(rows)`` memory.

The corpus is exactly the texts passed in: IDF and average length come from them, so scores are a
property of the whole corpus (``sqlml_search`` passes every row of the table; ``top_k_sentences``
passes the sentences of one text).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

import numpy as np

K1 = 1.5
B = 0.75
#: Texts tokenised at once: bounds the token lists alive at any time.
TOKENIZE_CHUNK = 20_000


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokenize(texts: list[str], return_ids: bool, stem: bool, stopwords: bool) -> Any:
    import bm25s

    return bm25s.tokenize(
        texts,
        stopwords="en" if stopwords else None,
        stemmer=_stemmer() if stem else None,
        return_ids=return_ids,
        show_progress=False,
    )


def tokenize(texts: list[str], *, stem: bool = True, stopwords: bool = True) -> list[list[str]]:
    """Token strings per text (lowercased; English stopwords out and Snowball stemming by default)."""
    return _tokenize(texts, False, stem, stopwords)


def tokenize_ids(texts: list[str]) -> Any:
    """``bm25s.tokenize``'s ids and vocabulary of ``texts`` with this module's settings: what ``bm25s.BM25.index``
    takes, so a stored index scores exactly as :func:`bm25_scores` does."""
    return _tokenize(texts, True, True, True)


def bm25_scores(corpus: list[str], query: str, *, stem: bool = True, stopwords: bool = True) -> np.ndarray:
    """BM25 score of every text in ``corpus`` for ``query``: ``float32 (len(corpus),)``, ≥ 0.

    0 means the text shares no (stemmed, non-stopword) term with the query; so does every text when
    the query is made only of stopwords. A query term repeated counts once per occurrence.
    """
    return bm25_matrix(corpus, [query], stem=stem, stopwords=stopwords)[0]


def bm25_matrix(
    corpus: list[str], queries: list[str], *, stem: bool = True, stopwords: bool = True, k1: float = K1, b: float = B
) -> np.ndarray:
    """BM25 scores of ``corpus`` for each query: ``float32 (len(queries), len(corpus))``.

    ``stem``, ``stopwords``, ``k1`` and ``b`` exist for the evaluation of these choices.

    The corpus is tokenised once, :data:`TOKENIZE_CHUNK` texts at a time; memory is ``O(rows ×
    distinct query terms)`` floats.
    """
    asked = tokenize(queries, stem=stem, stopwords=stopwords)
    n = len(corpus)
    column = {term: i for i, term in enumerate(dict.fromkeys(t for terms in asked for t in terms))}
    scores = np.zeros((len(queries), n), dtype=np.float32)
    if n == 0 or not column:
        return scores
    lengths = np.zeros(n, dtype=np.float32)
    tf = np.zeros((len(column), n), dtype=np.float32)
    for start in range(0, n, TOKENIZE_CHUNK):
        chunk = _tokenize(corpus[start : start + TOKENIZE_CHUNK], True, stem, stopwords)
        count = np.fromiter(map(len, chunk.ids), dtype=np.int64, count=len(chunk.ids))
        lengths[start : start + len(count)] = count
        flat = np.fromiter(itertools.chain.from_iterable(chunk.ids), dtype=np.int64, count=int(count.sum()))
        owner = np.repeat(np.arange(len(count)), count)
        # chunk-local token id → query-term column (-1: not a query term)
        to_column = np.full(max(chunk.vocab.values(), default=-1) + 1, -1, dtype=np.int64)
        for term, i in column.items():
            term_id = chunk.vocab.get(term)
            if term_id is not None:
                to_column[term_id] = i
        columns = to_column[flat]
        hit = columns >= 0
        cells = np.bincount(columns[hit] * len(count) + owner[hit], minlength=len(column) * len(count))
        tf[:, start : start + len(count)] = cells.reshape(len(column), len(count))
    average = float(lengths.mean())
    if average == 0.0:
        return scores
    norm = k1 * ((1 - b) + b * lengths / average)
    df = np.count_nonzero(tf, axis=1)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    weight = (idf[:, None] * tf / (tf + norm[None, :])).astype(np.float32)  # (terms, n)
    for q, terms in enumerate(asked):
        for term in terms:
            scores[q] += weight[column[term]]
    return scores
