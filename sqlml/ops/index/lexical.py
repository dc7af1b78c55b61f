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

The rows an incremental refresh writes beside a base segment are scored with the collection statistics of
the base and themselves together (document count, document frequencies, mean length: :class:`Collection`),
so a changed row scores about as it would in a whole index; the base's own matrix keeps the statistics it was
written with (its dead rows still count) until a whole version is written again, as Lucene's segments keep
counting deleted documents until a merge.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from sqlml.ops.index.runs import positions_within
from sqlml.ops.inputs import as_string_array
from sqlml.ops.relevance.bm25 import tokenize_ids

#: In the bm25s folder: ``lengths`` (``int32 (rows,)``) and ``ids`` (``int32``, every row's token ids in row order,
#: ids of bm25s's saved vocabulary).
TOKENS = "sqlml_tokens.npz"
VOCABULARY = "vocab.index.json"  # bm25s's name for its saved vocabulary


@dataclass(frozen=True)
class Collection:
    """Statistics of documents scored beside others: their count, each token id's document frequency
    (``int64 (vocabulary,)``) and their total length in tokens."""

    documents: int
    frequencies: np.ndarray
    tokens: int


class ArrayBM25(bm25s.BM25):
    """``bm25s.BM25`` (method ``'lucene'`` only) whose index is built with numpy instead of a loop per document;
    ``document_frequencies`` (``int64 (vocabulary,)``) is kept from the last build."""

    document_frequencies: np.ndarray | None = None

    def build_index_from_ids(self, unique_token_ids: list[int], corpus_token_ids: list[list[int]], show_progress: bool = True,
                             leave_progress: bool = False) -> dict[str, Any]:
        """bm25s's score matrix in CSC form (rows: documents, columns: token ids): ``{'data', 'indices', 'indptr',
        'num_docs'}``, as ``bm25s.BM25.build_index_from_ids`` returns it; progress arguments are ignored."""
        if self.method != "lucene" or self.idf_method not in (None, "lucene"):
            raise ValueError(f"ArrayBM25 builds bm25s's 'lucene' scores only, not {self.method!r}")
        self.nonoccurrence_array = None  # as bm25s sets it: the Lucene method has none
        lengths, tokens = _flat(corpus_token_ids)
        matrix = score_matrix(lengths, tokens, len(unique_token_ids), self.k1, self.b, self.dtype, self.int_dtype)
        self.document_frequencies = matrix.pop("df")
        return matrix


def score_matrix(lengths: np.ndarray, tokens: np.ndarray, n_vocab: int, k1: float, b: float, dtype: str = "float32",
                 int_dtype: str = "int32", beside: Collection | None = None) -> dict[str, Any]:
    """bm25s's Lucene score matrix (CSC, rows: documents, columns: token ids ``0 .. n_vocab - 1``) of documents with
    ``lengths[i]`` tokens each, ``tokens`` holding them all in document order, and ``'df'``: their own document
    frequencies (``int64 (n_vocab,)``). ``beside``: other documents counted in the idf and the mean length."""
    n_docs = len(lengths)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pairs, tf = np.unique(docs * n_vocab + tokens, return_counts=True)  # (document, token) pairs, by document then token
    pair_doc, pair_token = pairs // n_vocab, pairs % n_vocab
    df = np.bincount(pair_token, minlength=n_vocab)
    counted, counted_df, counted_length = n_docs, df, lengths.sum()
    if beside is not None:
        counted, counted_length = counted + beside.documents, counted_length + beside.tokens
        counted_df = df.copy()
        shared = min(n_vocab, len(beside.frequencies))
        counted_df[:shared] += beside.frequencies[:shared]
    # as bm25s: the idf stored as float32, then float64 arithmetic with the float64 mean length, stored as float32
    idf = np.zeros(n_vocab, dtype=np.float32)
    seen = counted_df > 0
    idf[seen] = np.log(1 + (counted - counted_df[seen] + 0.5) / (counted_df[seen] + 0.5))
    mean_length = np.float64(counted_length / counted) if counted else np.float64(0.0)
    tfc = tf / (k1 * ((1 - b) + b * lengths[pair_doc] / mean_length) + tf)
    scores = (idf[pair_token].astype(np.float64) * tfc).astype(dtype)
    order = np.argsort(pair_token, kind="stable")  # by token, documents ascending within each
    indptr = np.concatenate([[0], np.cumsum(df)])
    return {"data": scores[order], "indices": pair_doc[order].astype(int_dtype), "indptr": indptr, "num_docs": n_docs, "df": df}


def write_bm25(folder: Path, texts: Any, previous: list[Path] | None = None, reused: np.ndarray | None = None,
               beside: Path | None = None) -> bool:
    """Save bm25s's index of ``texts`` (a list or Arrow array of strings) into ``folder`` with every row's tokens (:data:`TOKENS`, and the vocabulary);
    ``False`` (no bm25s files) when no text has a term, since bm25s cannot index a corpus without one.

    ``previous``: the bm25s folders of the version being refreshed, its segments in row order, and ``reused[i]``:
    the row of those segments (one after the other) whose text row ``i`` has (-1: a new or changed text). Those
    rows' tokens are read instead of tokenised again, and new terms extend the last folder's vocabulary; a folder
    without saved tokens means tokenising everything. ``beside``: the bm25s folder of a base whose documents
    count in the collection statistics of ``texts`` (see the module doc).
    """
    texts = as_string_array(texts)
    retriever = ArrayBM25()
    saved = _saved_tokens(previous, bool((reused >= 0).any())) if previous and reused is not None else None
    if saved is not None:
        lengths, tokens, vocabulary = _tokens_reusing(texts, saved, reused)  # type: ignore[arg-type]
        if len(tokens):
            matrix = score_matrix(lengths, tokens, max(vocabulary.values()) + 1, retriever.k1, retriever.b, retriever.dtype,
                                  retriever.int_dtype, collection(beside) if beside is not None else None)
            retriever.document_frequencies = matrix.pop("df")
            retriever.scores = matrix
            retriever.nonoccurrence_array = None
            retriever.vocab_dict = vocabulary
            retriever.unique_token_ids_set = set(vocabulary.values())
    elif beside is not None:
        raise ValueError("write_bm25: rows scored beside a base need the previous version's saved tokens")
    else:
        tokenized = tokenize_ids(texts.to_pylist())
        vocabulary = dict(tokenized.vocab)
        lengths, tokens = _flat(tokenized.ids)
        if vocabulary:
            retriever.index(tokenized, show_progress=False)
            vocabulary = retriever.vocab_dict
    frequencies = retriever.document_frequencies
    if frequencies is None:  # no term: bm25s writes nothing, but the tokens and vocabulary still carry to the next refresh
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCABULARY).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    else:
        retriever.save(str(folder), show_progress=False)
    np.savez(folder / TOKENS, lengths=lengths.astype(np.int32), ids=tokens.astype(np.int32),
             df=frequencies if frequencies is not None else np.zeros(0, dtype=np.int64))
    return frequencies is not None


def collection(folder: Path) -> Collection:
    """The :class:`Collection` of the rows saved in bm25s folder ``folder`` (one :func:`has_tokens` accepts)."""
    saved = np.load(folder / TOKENS)
    lengths = saved["lengths"].astype(np.int64)
    return Collection(len(lengths), saved["df"].astype(np.int64), int(lengths.sum()))


def has_tokens(folder: Path) -> bool:
    """Whether bm25s folder ``folder`` saved its rows' tokens, their document frequencies and the vocabulary, as a
    refresh needs to tokenise only its changed rows and to score them beside these (earlier saves lack the frequencies)."""
    if not (folder / VOCABULARY).exists():
        return False
    try:
        return {"lengths", "ids", "df"} <= set(np.load(folder / TOKENS).files)
    except (OSError, ValueError):
        return False


def _flat(token_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, tokens)``, both ``int64``: each document's token count, and every token in document order."""
    lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
    return lengths, np.fromiter(itertools.chain.from_iterable(token_ids), dtype=np.int64, count=int(lengths.sum()))


def _saved_tokens(folders: list[Path], rows: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, int]] | None:
    """``(lengths, tokens, vocabulary)`` saved in ``folders`` (rows one after the other; the last folder's vocabulary,
    which extends the earlier ones'), or ``None`` when one of them saved no tokens. Without ``rows`` (no row is
    reused) only the vocabulary is read, and no row's tokens."""
    if not all(map(has_tokens, folders)):
        return None
    vocabulary = json.loads((folders[-1] / VOCABULARY).read_text(encoding="utf-8"))
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), vocabulary
    saved = [np.load(folder / TOKENS) for folder in folders]
    lengths = np.concatenate([s["lengths"].astype(np.int64) for s in saved])
    tokens = np.concatenate([s["ids"].astype(np.int64) for s in saved])
    return lengths, tokens, vocabulary


def _tokens_reusing(texts: Any, saved: tuple[np.ndarray, np.ndarray, dict[str, int]], reused: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """``(lengths, tokens, vocabulary)`` of ``texts``: reused rows' tokens from ``saved``, the others tokenised, new
    terms appended to the saved vocabulary (bm25s's, with its empty token)."""
    old_lengths, old_tokens, vocabulary = saved
    fresh = np.flatnonzero(reused < 0)
    tokenized = tokenize_ids(texts.take(fresh).to_pylist())
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
