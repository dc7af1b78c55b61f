"""Word features beside the embedding for trained heads: TF-IDF of the head's own word 1–2-grams.

A frozen sentence embedding blurs the words some labels hang on (a question's "how many", an emotion's "furious");
a logistic regression over ``[EMBEDDING_WEIGHT · embedding ⊕ tfidf(text)]`` sees both. The vocabulary and its idf
come from the training rows only and are stored with the head (``words.json`` and the ``idf`` tensor,
:mod:`sqlml.models.heads`), so a head scores new texts exactly as it was fitted. Measured across corpora in
docs/classify.md.

Shapes: ``transform(texts)`` → ``scipy.sparse.csr_matrix float64 (len(texts), len(vocabulary))``, each row
L2-normalised (a text without a known term is a zero row). NULL texts are not accepted (callers drop them first).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

#: Word n-gram lengths (sklearn's default word tokens: runs of 2+ letters or digits, lower-cased).
NGRAMS = (1, 2)
#: The most frequent terms kept: bounds a head's size (labels × (dimension + terms) weights) on long documents.
MAX_TERMS = 50_000
#: The embedding block's scale beside the unit-length TF-IDF block: 2 lost nowhere on the dev splits of six
#: corpora where 1 lost on Banking77 (docs/classify.md).
EMBEDDING_WEIGHT = 2.0


@dataclass(frozen=True)
class WordFeatures:
    """A fitted TF-IDF of word 1–2-grams: ``vocabulary[i]`` has inverse document frequency ``idf[i]`` (``float32``);
    the embedding block is scaled by ``embedding_weight`` beside it (recorded with each head)."""

    vocabulary: tuple[str, ...]
    idf: np.ndarray
    embedding_weight: float = EMBEDDING_WEIGHT

    @classmethod
    def fit(cls, texts: list[str]) -> WordFeatures:
        """The vocabulary (at most :data:`MAX_TERMS`, the most frequent) and idf of ``texts``."""
        try:
            vectorizer = _vectorizer(None).fit(texts)
        except ValueError:  # sklearn's "empty vocabulary": no text has a word of 2+ characters
            return cls((), np.zeros(0, dtype=np.float32))
        order = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        return cls(tuple(order), vectorizer.idf_.astype(np.float32))

    def describe(self) -> dict[str, Any]:
        """What a head's ``meta.json`` records of its word features (the vocabulary itself is in ``words.json``);
        :func:`recorded_words` checks a loaded head's record against it."""
        return {"kind": "tfidf", "ngrams": list(NGRAMS), "terms": len(self.vocabulary), "max_terms": MAX_TERMS,
                "sublinear_tf": True, "embedding_weight": self.embedding_weight, "sha256": self.digest()}

    def digest(self) -> str:
        """sha256 of the vocabulary in order, the idf and the embedding weight: a reordered or edited ``words.json``
        or weight changes it."""
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(list(self.vocabulary), ensure_ascii=False).encode("utf-8"))
        digest.update(np.ascontiguousarray(self.idf, dtype="<f4").tobytes())
        digest.update(repr(float(self.embedding_weight)).encode())
        return digest.hexdigest()

    def transform(self, texts: list[str]) -> Any:
        """``csr_matrix float64 (len(texts), len(vocabulary))``: sublinear tf × idf, rows L2-normalised."""
        import scipy.sparse as sp

        if not self.vocabulary:
            return sp.csr_matrix((len(texts), 0), dtype=np.float64)
        return self._fitted.transform(texts).tocsr()

    @cached_property
    def _fitted(self) -> Any:
        """sklearn's vectorizer of this vocabulary and idf, built once (each DuckDB batch of a query transforms with
        it; transforming only reads it, so threads may share it)."""
        vectorizer = _vectorizer({term: i for i, term in enumerate(self.vocabulary)})
        vectorizer.idf_ = self.idf.astype(np.float64)
        return vectorizer


#: The largest embedding weight a head may record: its products must stay finite in float32.
MAX_EMBEDDING_WEIGHT = 1_000.0


def recorded_words(record: Any, vocabulary: list[str], idf: Any) -> tuple[WordFeatures | None, str | None]:
    """``(word features, None)`` when a head's ``meta.json`` words ``record`` describes features this code computes
    (TF-IDF of :data:`NGRAMS`, sublinear tf) over ``vocabulary`` (distinct strings) and ``idf`` (finite floats >= 1,
    as sklearn's smoothed idf is; one per term), in that order; else ``(None, problem)``, the end of a sentence."""
    import math

    if not isinstance(record, dict):
        return None, f"has no valid words record in meta.json ({record!r})"
    expected = {"kind": "tfidf", "ngrams": list(NGRAMS), "sublinear_tf": True, "terms": len(vocabulary)}
    differing = sorted(k for k, v in expected.items() if record.get(k) != v)
    if differing:
        return None, (f"has word features this sqlml does not compute (meta.json words {', '.join(f'{k}={record.get(k)!r}' for k in differing)};"
                     f" expected {', '.join(f'{k}={expected[k]!r}' for k in differing)})")
    if idf is None or getattr(idf, "shape", None) != (len(vocabulary),):
        return None, f"has an idf tensor of shape {getattr(idf, 'shape', None)} for {len(vocabulary)} terms in words.json"
    if not np.issubdtype(idf.dtype, np.floating) or not np.isfinite(idf).all() or (len(idf) and float(idf.min()) < 1.0):
        return None, "has an idf tensor with values a TF-IDF fit never gives (expected finite floats >= 1)"
    weight = record.get("embedding_weight")
    try:
        value = float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) else math.nan
    except OverflowError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_EMBEDDING_WEIGHT:
        return None, f"has an invalid words.embedding_weight in meta.json ({weight!r}; expected a number from 0 to {MAX_EMBEDDING_WEIGHT:g})"
    words = WordFeatures(tuple(vocabulary), idf.astype(np.float32), value)
    if record.get("sha256") != words.digest():
        return None, "has word features that changed since training (the sha256 of words.json, idf and weight differs from meta.json's)"
    return words, None


def head_inputs(embeddings: np.ndarray, words: WordFeatures | None, texts: list[str]) -> Any:
    """A head's input rows: ``embeddings`` (``float32 (n, d)``) alone, or ``csr (n, d + terms)`` =
    ``[words.embedding_weight · embeddings ⊕ words.transform(texts)]``."""
    if words is None:
        return embeddings
    import scipy.sparse as sp

    return sp.hstack([sp.csr_matrix(words.embedding_weight * embeddings.astype(np.float64)), words.transform(texts)], format="csr")


def _vectorizer(vocabulary: dict[str, int] | None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=NGRAMS, sublinear_tf=True, max_features=None if vocabulary else MAX_TERMS,
                           vocabulary=vocabulary, dtype=np.float64)
