"""A call's classification result (:class:`Prediction`): label, top and score outputs, row by row.

The outputs are built with array operations over groups of rows that share a label set; these tests pin them
against a plain per-row reading: order kept, NULL rows NULL, ties to the first label, groups interleaved.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sqlml.ops.classify.core import Prediction, PredictionGroup


def _interleaved() -> Prediction:
    """Six rows: rows 0, 3 with labels (a, b, c), rows 1, 4 with (x, y), rows 2 and 5 NULL; row 3 is a tie."""
    return Prediction(6, [
        PredictionGroup(("a", "b", "c"), np.array([0, 3]), np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])),
        PredictionGroup(("x", "y"), np.array([1, 4]), np.array([[0.9, 0.1], [0.25, 0.75]])),
    ])


def test_labels_follow_rows_with_nulls_and_first_label_on_ties() -> None:
    assert _interleaved().label_array().to_pylist() == ["b", "x", None, "a", "y", None]


def test_top_gives_the_best_label_and_its_probability() -> None:
    names, scores = _interleaved().top()
    assert names.to_pylist() == ["b", "x", None, "a", "y", None]
    assert scores.to_pylist() == [0.5, 0.9, None, 0.4, 0.75, None]
    assert scores.type == pa.float64()


def test_scores_list_every_label_by_descending_probability_per_row() -> None:
    rows = _interleaved().score_array().to_pylist()
    assert rows[0] == [{"label": "b", "score": 0.5}, {"label": "c", "score": 0.3}, {"label": "a", "score": 0.2}]
    assert rows[1] == [{"label": "x", "score": 0.9}, {"label": "y", "score": 0.1}]
    assert rows[2] is None and rows[5] is None
    assert rows[3] == [{"label": "a", "score": 0.4}, {"label": "b", "score": 0.4}, {"label": "c", "score": 0.2}]  # tie: label order
    assert rows[4] == [{"label": "y", "score": 0.75}, {"label": "x", "score": 0.25}]


def test_an_all_null_call_and_an_empty_call() -> None:
    assert Prediction(2).label_array().to_pylist() == [None, None]
    assert Prediction(2).score_array().to_pylist() == [None, None]
    assert Prediction(0).label_array().to_pylist() == []
    assert Prediction(0).score_array().to_pylist() == []
    names, scores = Prediction(0).top()
    assert names.to_pylist() == [] and scores.to_pylist() == []
