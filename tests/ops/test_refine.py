"""Zero-shot labels refined over a set of rows: the core, Python's refine=True and SQL's sqlml_classify."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import sqlml
from sqlml.errors import InvalidArgumentError
from sqlml.ops.classify import refine


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def two_groups(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels whose vectors sit off their rows: rows of group g cluster around centre g; label 0 leans far
    toward a direction no row has, label 1 a little, so rows of group 0 near the boundary go to label 1;
    returns (labels, rows, truth)."""
    centres_and_bias = unit(rng.standard_normal((3, 16)))
    centres, bias = centres_and_bias[:2], centres_and_bias[2]
    truth = np.arange(n) % 2
    rows = unit(centres[truth] + 0.2 * rng.standard_normal((n, 16)))
    labels = unit(np.stack([centres[0] + 2 * bias, centres[1] + 0.3 * bias]))
    return labels.astype(np.float32), rows.astype(np.float32), truth


def test_refined_labels_move_toward_their_rows_and_classify_better() -> None:
    labels, rows, truth = two_groups(np.random.default_rng(0))
    refined = refine.refine_label_vectors(labels, rows)
    assert refined.dtype == np.float32 and refined.shape == labels.shape
    np.testing.assert_allclose(np.linalg.norm(refined, axis=1), 1.0, rtol=1e-5)
    before = (np.argmax(rows @ labels.T, axis=1) == truth).mean()
    after = (np.argmax(rows @ refined.T, axis=1) == truth).mean()
    assert before < 0.8 and after == 1.0


def test_refinement_is_deterministic_and_leaves_degenerate_sets_alone() -> None:
    labels, rows, _ = two_groups(np.random.default_rng(1))
    np.testing.assert_array_equal(refine.refine_label_vectors(labels, rows), refine.refine_label_vectors(labels, rows))
    np.testing.assert_array_equal(refine.refine_label_vectors(labels, rows[:0]), labels)
    np.testing.assert_array_equal(refine.refine_label_vectors(labels[:1], rows), labels[:1])


def test_a_label_that_wins_no_row_keeps_its_vector() -> None:
    labels, rows, _ = two_groups(np.random.default_rng(2))
    far = unit(-rows.mean(axis=0, keepdims=True))  # a third label opposite the rows
    assert (rows @ far.T).max() < (rows @ labels.T).max(axis=1).min()  # it wins no row
    refined = refine.refine_label_vectors(np.concatenate([labels, far]), rows)
    np.testing.assert_allclose(refined[2], far[0], rtol=1e-6)


def test_one_round_follows_the_documented_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refine, "ROUNDS", 1)
    labels, rows, _ = two_groups(np.random.default_rng(3), n=20)
    scores = rows.astype(np.float64) @ labels.T.astype(np.float64)
    winner = scores.argmax(axis=1)
    margin = np.abs(scores[:, 0] - scores[:, 1])
    expected = []
    for label in (0, 1):
        won = np.flatnonzero(winner == label)
        clearest = won[np.argsort(-margin[won], kind="stable")[: int(np.ceil(refine.CLEAR_SHARE * len(won)))]]
        centre = unit(rows[clearest].astype(np.float64).mean(axis=0))
        expected.append(unit(refine.LABEL_WEIGHT * labels[label] + (1 - refine.LABEL_WEIGHT) * centre))
    np.testing.assert_allclose(refine.refine_label_vectors(labels, rows), np.stack(expected), rtol=1e-5, atol=1e-6)


TEXTS = [f"the {w} and the {v} today {i}" for i, (w, v) in enumerate(
    [("goal", "match"), ("bank", "shares"), ("striker", "league"), ("profit", "market"), ("tennis", "coach"), ("loan", "tax")] * 5
)]


def test_python_refine_uses_every_text_of_the_call(tiny_model_dir: Path) -> None:
    labels = ["sport", "money"]
    refined = sqlml.classify(TEXTS + [None], labels, model=None, embedding_model=str(tiny_model_dir), refine=True)
    assert refined[-1] is None and all(label in labels for label in refined[:-1])
    # the answer is a function of the whole list: the same texts give the same labels; a subset may differ
    assert sqlml.classify(TEXTS + [None], labels, embedding_model=str(tiny_model_dir), refine=True) == refined
    vectors = sqlml.embed(TEXTS, model=str(tiny_model_dir))
    names = sqlml.embed(labels, model=str(tiny_model_dir))
    prototypes = refine.refine_label_vectors(names, vectors)
    assert refined[:-1] == [labels[i] for i in np.argmax(vectors @ prototypes.T, axis=1)]
    scores = sqlml.classify_scores(TEXTS, labels, embedding_model=str(tiny_model_dir), refine=True)
    assert [row[0]["label"] for row in scores] == refined[:-1]


def test_python_refine_without_it_is_plain_zero_shot_with_bare_names(tiny_model_dir: Path) -> None:
    labels = ["sport", "money"]
    plain = sqlml.classify(TEXTS, labels, embedding_model=str(tiny_model_dir), template="{label}")
    assert sqlml.classify(TEXTS, labels, embedding_model=str(tiny_model_dir), template="{label}", refine=False) == plain
    assert sqlml.classify(TEXTS, labels, embedding_model=str(tiny_model_dir), template="{label}", refine=np.False_) == plain


def test_the_top_label_and_score_are_the_first_of_every_labels_scores(tiny_model_dir: Path) -> None:
    from sqlml.config import Settings
    from sqlml.ops.classify.core import resolve_classifier

    classifier = resolve_classifier("classify", Settings.resolve(model=str(tiny_model_dir), device="cpu"), labels=["sport", "money"],
                                    refine=True)
    prediction = classifier.predict(pa.array([*TEXTS[:6], None], pa.string()))
    names, scores = prediction.top()
    every = prediction.score_array().to_pylist()
    assert names.to_pylist() == [None if row is None else row[0]["label"] for row in every]
    assert scores.to_pylist() == [None if row is None else row[0]["score"] for row in every]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "topics", "refine": True}, "refine applies to zero-shot labels"),
    ({"labels": ["a", "b"], "refine": "yes"}, "refine must be True or False, not str 'yes'"),
])
def test_python_refine_errors(tiny_model_dir: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        sqlml.classify(TEXTS, embedding_model=str(tiny_model_dir), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def news(tiny_con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    rows = [(i, t) for i, t in enumerate(TEXTS)] + [(len(TEXTS), None)]
    tiny_con.execute("CREATE TABLE news (id INTEGER, body VARCHAR)")
    tiny_con.executemany("INSERT INTO news VALUES (?, ?)", rows)
    return tiny_con


def test_sql_table_form_equals_python_over_the_whole_table(news: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    got = news.sql("SELECT id, body, predicted_label, predicted_score FROM sqlml_classify('news', 'body', ['sport', 'money'])").fetchall()
    assert [r[0] for r in got] == list(range(len(TEXTS) + 1))  # table order, every row
    assert got[-1][2:] == (None, None)  # NULL text
    scores = sqlml.classify_scores(TEXTS, ["sport", "money"], embedding_model=str(tiny_model_dir), refine=True)
    assert [r[2] for r in got[:-1]] == [s[0]["label"] for s in scores]
    np.testing.assert_allclose([r[3] for r in got[:-1]], [s[0]["score"] for s in scores], rtol=1e-9)


def test_sql_table_form_does_not_depend_on_duckdb_chunks(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    texts = [TEXTS[i % len(TEXTS)] + f" number {i}" for i in range(4500)]  # past DuckDB's 2,048-row vectors
    tiny_con.execute("CREATE TABLE many AS SELECT i AS id, 'the ' || i AS body FROM range(0) t(i)")
    tiny_con.executemany("INSERT INTO many VALUES (?, ?)", list(enumerate(texts)))
    got = [r[0] for r in tiny_con.sql("SELECT predicted_label FROM sqlml_classify('many', 'body', ['sport', 'money'])").fetchall()]
    assert got == sqlml.classify(texts, ["sport", "money"], embedding_model=str(tiny_model_dir), refine=True)


def test_sql_refine_false_is_classify_with_bare_names(news: duckdb.DuckDBPyConnection) -> None:
    got = news.sql("SELECT predicted_label FROM sqlml_classify('news', 'body', ['sport', 'money'], refine := false)").fetchall()
    plain = news.sql("SELECT classify(body, ['sport', 'money'], template := '{label}') FROM news ORDER BY id").fetchall()
    assert got == plain


def test_sql_empty_table_gives_no_rows(news: duckdb.DuckDBPyConnection) -> None:
    news.execute("CREATE VIEW nothing AS SELECT * FROM news WHERE false")
    assert news.sql("SELECT * FROM sqlml_classify('nothing', 'body', ['sport', 'money'])").fetchall() == []


@pytest.mark.parametrize(("call", "message"), [
    ("sqlml_classify('own', 'body', ['sport', 'money'])", "already has a column named 'predicted_label'"),
    ("sqlml_classify('news', 'body', NULL)", "labels is NULL; give the label names"),
    ("sqlml_classify('news', 'body', ['sport', 'money'], refine := NULL)", "refine is NULL"),
    ("sqlml_classify('news', 'body', ['sport', 'sport'])", "labels must be distinct"),
    ("sqlml_classify('news', 'body', ['sport', 'money'], template := 'no placeholder')", "template must contain '{label}'"),
    ("sqlml_classify('news', NULL, ['sport', 'money'])", "column_name is NULL; name the text column"),
    ("sqlml_classify('news', 'body', ['sport', 'money'], temperature := -1)", "temperature must be > 0 (default 0.07)"),
    # an empty table refuses what a full one would
    ("sqlml_classify('nothing', 'body', ['sport', 'sport'])", "labels must be distinct"),
    ("sqlml_classify('nothing', 'body', NULL)", "labels is NULL"),
])
def test_sql_table_form_errors(news: duckdb.DuckDBPyConnection, call: str, message: str) -> None:
    news.execute("CREATE VIEW own AS SELECT *, 'x' AS predicted_label FROM news")
    news.execute("CREATE VIEW nothing AS SELECT * FROM news WHERE false")
    with pytest.raises(duckdb.Error, match=re.escape(message)):
        news.sql(f"SELECT * FROM {call}").fetchall()


def test_cli_refine_classifies_every_row_of_the_inputs_in_one_call(tmp_path: Path, tiny_model_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from sqlml.cli import main

    pq.write_table(pa.table({"id": list(range(len(TEXTS) + 1)), "body": [*TEXTS, None]}), tmp_path / "news.parquet")
    words = ["classify", str(tmp_path / "news.parquet"), "--column", "body", "--labels", "sport,money", "--embedding-model", str(tiny_model_dir),
             "--device", "cpu", "--no-progress", "--refine"]
    result = CliRunner().invoke(main, [*words, "-o", str(tmp_path / "out.parquet")])
    assert result.exit_code == 0, result.output
    got = pq.read_table(tmp_path / "out.parquet").to_pydict()
    assert got["id"] == list(range(len(TEXTS) + 1))
    assert got["label"] == sqlml.classify([*TEXTS, None], ["sport", "money"], embedding_model=str(tiny_model_dir), refine=True)
    result = CliRunner().invoke(main, [*words, "--model", "topics", "-o", str(tmp_path / "other.parquet")])
    assert result.exit_code != 0 and "give labels (zero-shot) or model" in result.output
