"""A trained head's temperature: fitted on the held-out rows, folded into the stored weights, recorded in meta."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sqlml
from sqlml.config import Settings
from sqlml.engine.runtime import runtime_for
from sqlml.models import heads
from sqlml.ops.classify import calibration, train
from sqlml.ops.classify.long_text import text_vectors


def _rows(n: int = 60) -> tuple[list[str], list[str]]:
    words = {"sport": ["goal", "striker", "match", "league"], "money": ["bank", "rates", "inflation", "market"],
             "tech": ["phone", "battery", "chip", "screen"]}
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(n):
        label = sorted(words)[i % 3]
        texts.append(" ".join(rng.choice(words[label], size=4)) + f" item {i}")
        labels.append(label)
    return texts, labels


def test_the_temperature_that_made_the_labels_is_found() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 5)) * 3
    scaled = logits / 0.5  # the true scores are twice as sharp as the logits say
    probabilities = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(5, p=p) for p in probabilities])
    assert calibration.fit_temperature(logits, truth) == pytest.approx(0.5, rel=0.1)
    assert calibration.negative_log_likelihood(logits, truth, 0.5) < calibration.negative_log_likelihood(logits, truth, 1.0)


def test_a_perfectly_separated_split_stops_at_the_bound() -> None:
    logits = np.array([[5.0, 0.0], [0.0, 5.0]] * 10)
    truth = np.array([0, 1] * 10)
    assert calibration.fit_temperature(logits, truth) == pytest.approx(calibration.BOUNDS[0], abs=1e-3)


def test_the_nll_is_the_mean_negative_log_softmax() -> None:
    logits = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
    truth = np.array([1, 0])
    expected = -np.mean([np.log(np.exp(2.0) / np.exp([1.0, 2.0, 0.5]).sum()), np.log(1 / np.exp([0.0, 0.0, 3.0]).sum())])
    assert calibration.negative_log_likelihood(logits, truth) == pytest.approx(expected)


def test_a_trained_head_stores_its_fit_divided_by_the_held_out_temperature(tiny_model_dir: Path) -> None:
    texts, labels = _rows()
    result = sqlml.train_classifier("calibrated", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", features="embedding")
    head = heads.load(result.ref)
    recorded = head.meta["metrics"]["calibration"]
    temperature = recorded["temperature"]
    assert calibration.BOUNDS[0] <= temperature <= calibration.BOUNDS[1] and temperature != 1.0
    assert recorded["held_out_nll_calibrated"] <= recorded["held_out_nll"]
    x = text_vectors(texts, runtime_for(Settings.resolve(model=str(tiny_model_dir), device="cpu")))
    coef, intercept = train.fit_logistic_regression(x, np.array(labels, dtype=object), train.DEFAULT_C, 0)
    np.testing.assert_allclose(head.coef, coef / temperature, rtol=1e-6)
    np.testing.assert_allclose(head.intercept, intercept / temperature, rtol=1e-6, atol=1e-7)
    uncalibrated = heads.Head("raw", 0, head.labels, coef, intercept, {})
    assert (head.probabilities(x).argmax(axis=1) == uncalibrated.probabilities(x).argmax(axis=1)).all()  # no label moves


def test_without_a_held_out_split_the_head_keeps_its_scores(tiny_model_dir: Path) -> None:
    texts, labels = _rows()
    result = sqlml.train_classifier("raw", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", test_size=0)
    recorded = heads.load(result.ref).meta["metrics"]["calibration"]
    assert recorded == {"temperature": 1.0, "note": "not calibrated: test_size is 0"}


@pytest.mark.parametrize("rare", ["zz", "a"])  # the rare label sorting last or first among the labels
def test_a_label_without_train_rows_in_the_split_is_left_out_of_the_temperature(tiny_model_dir: Path, rare: str) -> None:
    """A large test_size can hold out every row of a label: the held-out head has no column for it, so those rows
    cannot score a likelihood (before, they crashed training or were scored as another label's rows)."""
    others = ["m", "n"]
    labels = [rare] * 2 + [others[0]] * 5 + [others[1]] * 5
    texts = [f"{label} row {i} about {label}" for i, label in enumerate(labels)]
    result = sqlml.train_classifier("split", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", test_size=0.6)
    assert result.held_out == 8
    recorded = heads.load(result.ref).meta["metrics"]["calibration"]
    assert "held-out rows of labels with train rows" in recorded["note"]
    split = train.held_out_split(np.array(labels, dtype=object), 0.6, 0)
    assert not isinstance(split, str) and rare not in set(np.array(labels, dtype=object)[split[0]].tolist())


def test_a_head_too_small_for_a_split_is_calibrated_by_cross_validation(tiny_model_dir: Path) -> None:
    texts, labels = _rows(9)  # 3 rows per label: too few for a 20 % stratified split over 3 labels
    assert isinstance(train.held_out_split(np.array(labels, dtype=object), train.DEFAULT_TEST_SIZE, 0), str)
    result = sqlml.train_classifier("small", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    assert result.accuracy is None  # no held-out metrics
    recorded = heads.load(result.ref).meta["metrics"]["calibration"]
    assert recorded["note"].endswith("temperature from 3-fold cross-validated logits") and recorded["temperature"] != 1.0
    assert recorded["held_out_nll_calibrated"] <= recorded["held_out_nll"]


def test_one_row_of_a_label_leaves_the_head_uncalibrated(tiny_model_dir: Path) -> None:
    texts, labels = _rows(9)
    labels[0] = "rare"
    result = sqlml.train_classifier("tiny", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    recorded = heads.load(result.ref).meta["metrics"]["calibration"]
    assert recorded["temperature"] == 1.0 and recorded["note"].startswith("not calibrated: label 'rare' has only 1 row")
