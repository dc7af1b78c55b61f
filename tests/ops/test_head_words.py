"""Trained heads with word features: TF-IDF of the training texts beside the embedding, stored and refused safely."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sqlml
from sqlml.config import Settings
from sqlml.engine.runtime import runtime_for
from sqlml.errors import ModelLoadError
from sqlml.models import heads
from sqlml.models.words import WordFeatures, head_inputs
from sqlml.ops.classify import train
from sqlml.ops.classify.long_text import text_vectors


def _marked_rows(n: int = 80) -> tuple[list[str], list[str]]:
    """The label hangs on one word among shared filler: what a frozen (here random) embedding blurs."""
    rng = np.random.default_rng(0)
    filler = ["report", "today", "people", "said", "city", "new", "year", "group", "plan", "week"]
    texts, labels = [], []
    for i in range(n):
        label = "refund" if i % 2 else "delivery"
        words = list(rng.choice(filler, size=8)) + [{"refund": "reimburse", "delivery": "courier"}[label]]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_word_features_store_their_vocabulary_and_score_as_fitted(tiny_model_dir: Path) -> None:
    texts, labels = _marked_rows()
    result = sqlml.train_classifier("words", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    head = heads.load(result.ref)
    assert head.words is not None and head.meta["training"]["features"] == "embedding+words"
    vocabulary = json.loads((Path(result.path) / heads.WORDS).read_text())["vocabulary"]
    assert tuple(vocabulary) == head.words.vocabulary and "reimburse" in vocabulary and "courier" in vocabulary
    assert head.coef.shape == (2, 32 + len(vocabulary)) and head.meta["words"]["terms"] == len(vocabulary)
    # the stored head is the regression over [2·embedding ⊕ tfidf] of all rows, divided by its temperature
    x = text_vectors(texts, runtime_for(Settings.resolve(model=str(tiny_model_dir), device="cpu")))
    words = WordFeatures.fit(texts)
    coef, intercept = train.fit_logistic_regression(head_inputs(x, words, texts), np.array(labels, dtype=object), train.DEFAULT_C, 0)
    temperature = head.meta["metrics"]["calibration"]["temperature"]
    np.testing.assert_allclose(head.coef, coef / temperature, rtol=1e-5, atol=1e-6)
    # every door scores through the same head: classify_scores equals the head applied to embeddings and texts
    scores = sqlml.classify_scores(texts[:5], model="words", embedding_model=str(tiny_model_dir), device="cpu")
    expected = head.probabilities(x[:5], texts[:5])
    for row, probabilities in zip(scores, expected, strict=True):
        assert {s["label"]: s["score"] for s in row} == pytest.approx(dict(zip(head.labels, probabilities.tolist(), strict=True)))


def test_word_features_learn_a_label_the_embedding_cannot_see(tiny_model_dir: Path) -> None:
    """Two runic words the model's tokenizer reads as the same [UNK]: each pair of texts embeds identically, so only
    the words tell the labels apart."""
    texts = [f"news item {i} {word}" for i in range(40) for word in ("ᚠᚢᚦ", "ᚱᚲᚷ")]
    labels = ["refund", "delivery"] * 40
    words = sqlml.train_classifier("with-words", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    alone = sqlml.train_classifier("embedding-only", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", features="embedding")
    assert words.accuracy == 1.0 and alone.accuracy is not None and alone.accuracy <= 0.6
    assert heads.load(alone.ref).words is None and heads.load(alone.ref).coef.shape == (2, 32)
    unseen = ["a later item ᚱᚲᚷ", "ᚠᚢᚦ again"]
    assert sqlml.classify(unseen, model="with-words", embedding_model=str(tiny_model_dir), device="cpu") == ["delivery", "refund"]


def test_held_out_scores_use_a_vocabulary_of_the_train_rows_only(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    fitted_on: list[list[str]] = []
    fit = WordFeatures.fit.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(WordFeatures, "fit", classmethod(lambda cls, texts: fitted_on.append(list(texts)) or fit(cls, texts)))
    texts, labels = _marked_rows()
    result = sqlml.train_classifier("split-words", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    train_rows, _ = train.held_out_split(np.array(labels, dtype=object), train.DEFAULT_TEST_SIZE, 0)  # type: ignore[misc]
    assert fitted_on == [[texts[i] for i in train_rows], texts] and result.held_out == 16


def test_features_change_the_training_digest(tiny_model_dir: Path) -> None:
    texts, labels = _marked_rows(20)
    first = sqlml.train_classifier("digest", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    again = sqlml.train_classifier("digest", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    other = sqlml.train_classifier("digest", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", features="embedding")
    assert (first.version, again.version, other.version) == (1, 1, 2)


def test_a_fine_tuned_head_with_words_stores_both_and_classifies_with_both(tiny_model_dir: Path) -> None:
    texts, labels = _marked_rows(40)
    model = str(tiny_model_dir)
    plain = sqlml.train_classifier("tuned", texts, labels, embedding_model=model, device="cpu", method="finetune", steps=2)
    tuned = sqlml.train_classifier("tuned", texts, labels, embedding_model=model, device="cpu", method="finetune", steps=2,
                                   features="embedding+words")
    assert (plain.version, tuned.version) == (1, 2)
    head = heads.load(tuned.ref)
    assert heads.load(plain.ref).words is None and head.encoder is not None and head.words is not None
    assert head.meta["training"]["features"] == "embedding+words" and "reimburse" in head.words.vocabulary
    probs = sqlml.classify_scores(["courier report today", "reimburse city week"], model=tuned.ref, embedding_model=model, device="cpu")
    assert [row[0]["label"] for row in probs] == ["delivery", "refund"]  # the word the label hangs on decides
    assert tuned.accuracy is not None
def test_texts_without_a_word_train_a_head_with_an_empty_vocabulary(tiny_model_dir: Path) -> None:
    texts, labels = ["a", "b", "c", "d", "? !", "x"] * 4, ["p", "q"] * 12  # sklearn's words need 2+ characters
    result = sqlml.train_classifier("no-words", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    head = heads.load(result.ref)
    assert head.words is not None and head.words.vocabulary == () and head.coef.shape == (2, 32)
    assert len(sqlml.classify(["a", "b"], model="no-words", embedding_model=str(tiny_model_dir), device="cpu")) == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / heads.WORDS).unlink(), "is missing words.json"),
        (lambda f: (f / heads.WORDS).write_text("{not json"), "has an unreadable words.json"),
        (lambda f: (f / heads.WORDS).write_text('{"vocabulary": ["x", "x"]}'), "has no valid vocabulary in words.json"),
        (lambda f: (f / heads.WORDS).write_text('{"vocabulary": ["only"]}'), r"has word features this sqlml does not compute \(meta.json words terms=1"),
        (lambda f: _edit_words(f, lambda v: v[::-1]), "changed since training"),
        (lambda f: _edit_idf(f, lambda idf: -idf), r"values a TF-IDF fit never gives \(expected finite floats >= 1\)"),
        (lambda f: _edit_idf(f, lambda idf: idf[:-1]), "has an idf tensor of shape"),
        (lambda f: _edit_meta(f, embedding_weight=10**400), "has an invalid words.embedding_weight"),
        (lambda f: _edit_meta(f, embedding_weight=1e308), "has an invalid words.embedding_weight"),
        (lambda f: _edit_meta(f, embedding_weight=3.0), "changed since training"),
        (lambda f: _edit_meta(f, ngrams=[1, 3]), r"does not compute \(meta.json words ngrams=\[1, 3\]; expected ngrams=\[1, 2\]\)"),
    ],
)
def test_damaged_word_features_are_refused_naming_the_fix(tiny_model_dir: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    texts, labels = _marked_rows(20)
    result = sqlml.train_classifier("damaged", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    damage(Path(result.path))
    heads._cache.clear()
    with pytest.raises(ModelLoadError, match=rf"classifier damaged@1 .* {message}.*; re-train it"):
        sqlml.classify(["courier"], model="damaged", embedding_model=str(tiny_model_dir), device="cpu")


def _edit_words(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    vocabulary = json.loads((folder / heads.WORDS).read_text())["vocabulary"]
    (folder / heads.WORDS).write_text(json.dumps({"vocabulary": change(vocabulary)}))


def _edit_idf(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / heads.WEIGHTS)
    save_file({**tensors, "idf": np.ascontiguousarray(change(tensors["idf"]))}, folder / heads.WEIGHTS)


def _edit_meta(folder: Path, **words: object) -> None:
    meta = json.loads((folder / heads.META).read_text())
    meta["words"].update(words)
    (folder / heads.META).write_text(json.dumps(meta))

