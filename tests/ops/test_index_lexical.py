"""The numpy-built BM25 matrix of an index equals bm25s's own, and scores the same."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from sqlml.ops.index.lexical import ArrayBM25, write_bm25
from sqlml.ops.relevance.bm25 import tokenize, tokenize_ids

WORDS = ["rates", "bank", "central", "striker", "goal", "match", "phone", "battery", "screen", "the", "and", "of", "price"]


def random_corpus(rows: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(0, 25)))) for _ in range(rows)]
    texts[3] = "the and of"  # stopwords only: a document without terms
    return texts


@pytest.mark.parametrize("seed", [0, 1])
def test_the_matrix_equals_bm25s_own(seed: int) -> None:
    texts = random_corpus(300, seed)
    theirs, ours = bm25s.BM25(), ArrayBM25()
    theirs.index(tokenize_ids(texts), show_progress=False)
    ours.index(tokenize_ids(texts), show_progress=False)
    assert ours.vocab_dict == theirs.vocab_dict
    assert np.array_equal(ours.scores["indptr"], theirs.scores["indptr"])
    assert np.array_equal(ours.scores["indices"], theirs.scores["indices"])
    assert ours.scores["data"].dtype == theirs.scores["data"].dtype
    np.testing.assert_allclose(ours.scores["data"], theirs.scores["data"], rtol=1e-6)
    assert ours.scores["num_docs"] == theirs.scores["num_docs"] == len(texts)


def test_a_saved_index_scores_as_bm25s(tmp_path) -> None:
    texts = random_corpus(200, 2)
    assert write_bm25(tmp_path, texts)
    loaded = bm25s.BM25.load(str(tmp_path), mmap=True)
    reference = bm25s.BM25()
    reference.index(tokenize_ids(texts), show_progress=False)
    for query in ("central bank rates", "battery screen price", "goal"):
        terms = [t for t in tokenize([query])[0] if t in reference.vocab_dict]
        np.testing.assert_allclose(loaded.get_scores(terms), reference.get_scores(terms), rtol=1e-6)


def test_a_corpus_without_terms_writes_only_its_tokens(tmp_path) -> None:
    assert write_bm25(tmp_path, ["the and", "of", ""]) is False  # bm25s cannot index it; a later refresh reuses the tokens
    assert {p.name for p in tmp_path.iterdir()} == {"sqlml_tokens.npz", "vocab.index.json"}


def test_other_methods_are_refused() -> None:
    with pytest.raises(ValueError, match="lucene"):
        ArrayBM25(method="robertson").index(tokenize_ids(["central bank rates"]), show_progress=False)


def test_a_refresh_tokenises_only_changed_rows_and_scores_as_a_fresh_build(tmp_path, monkeypatch) -> None:
    from sqlml.ops.index import lexical

    texts = random_corpus(120, 3)
    first, again, fresh = tmp_path / "first", tmp_path / "again", tmp_path / "fresh"
    for folder in (first, again, fresh):
        folder.mkdir()
    assert write_bm25(first, texts)
    # rows 0-59 kept (in another order), 60-119 dropped, 30 new or changed rows, one with a term never seen before
    order = list(range(59, -1, -1))
    new_texts = [texts[i] for i in order] + [f"zucchini {t}" for t in random_corpus(30, 4)]
    reused = np.array(order + [-1] * 30)
    tokenized: list[int] = []
    real = lexical.tokenize_ids
    monkeypatch.setattr(lexical, "tokenize_ids", lambda values: tokenized.append(len(values)) or real(values))
    assert write_bm25(again, new_texts, [first], reused)
    assert tokenized == [30]
    monkeypatch.setattr(lexical, "tokenize_ids", real)
    assert write_bm25(fresh, new_texts)
    refreshed, built = bm25s.BM25.load(str(again), mmap=True), bm25s.BM25.load(str(fresh), mmap=True)
    for query in ("central bank rates", "zucchini", "battery goal", "striker"):
        terms = [t for t in tokenize([query])[0] if t in built.vocab_dict]
        assert terms and all(t in refreshed.vocab_dict for t in terms)
        np.testing.assert_allclose(refreshed.get_scores(terms), built.get_scores(terms), rtol=1e-6)

