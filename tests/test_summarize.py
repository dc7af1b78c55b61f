"""summarize / summarize_explain: the selection rule, edge cases, and the SQL, Python and CLI doors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sqlml
from sqlml.cli import main
from sqlml.engine.runtime import Runtime, get_runtime
from sqlml.errors import InvalidArgumentError
from sqlml.ops.sentences import split_sentences
from sqlml.ops.summarize.boilerplate import MAX_CHARS, boilerplate_mask
from sqlml.ops.summarize.pipeline import DEFAULT_RULE, SelectionRule, distinct_counts, explain_texts, select, select_many, summarize_array

ARTICLE = (
    "The central bank raised interest rates by half a point on Thursday. "
    "Markets had expected a smaller rise after weak retail figures. "
    "The striker scored twice as the home side won the cup final. "
    "Fans celebrated in the streets until late at night. "
    "Inflation is running at its highest level for a decade, the bank said. "
    "The coach praised his young team for their calm in the final minutes. "
    "Mortgage lenders are expected to pass the rise on to borrowers. "
    "It was the club's first trophy in twenty years."
)
SENTENCES = [s.text for s in split_sentences(ARTICLE)]


@pytest.fixture
def tiny_runtime(tiny_model_dir: Path) -> Runtime:
    return get_runtime(str(tiny_model_dir), "cpu")


def summaries(texts: list[str | None], n: int | list[int | None], runtime: Runtime) -> list[str | None]:
    ns = pa.array(n, pa.int64()) if isinstance(n, list) else n
    return summarize_array(pa.array(texts, pa.string()), ns, runtime).to_pylist()


# --- the pure selection rule ---------------------------------------------------------------------------


def test_select_numbers_clusters_by_first_sentence_and_picks_largest_when_ranking_by_size() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]])
    cluster, size, score, selected, *_ = select(x, np.array([5, 2, 2, 2]), n=1, rule=SelectionRule(2.0, 0.0, 0.0, rank_by_size=True))
    assert cluster.tolist() == [0, 1, 1, 1]
    assert size.tolist() == [1, 3, 3, 3]
    assert selected.tolist() == [False, True, False, False]  # the largest cluster; the earlier of two equal best
    assert score[1] == score[2] > score[3]


def test_the_default_ranks_clusters_by_their_representatives_score() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]])
    score, selected = (lambda s: (s.score, s.selected))(select(x, np.array([5, 2, 2, 2]), n=1, rule=SelectionRule(2.0, 0.0, 0.0)))
    assert selected.tolist() == [True, False, False, False]  # a sentence alone is its cluster's centroid: 1.0 beats 0.98
    assert score[0] == pytest.approx(1.0) and score[0] > score[1]


def test_the_position_prior_grows_with_the_texts_length() -> None:
    rule = SelectionRule()
    assert rule.position_weights(np.array([1, 25, 35, 45, 200])).tolist() == pytest.approx([0.1, 0.1, 0.3, 0.5, 0.5])
    assert SelectionRule(position_weight=0.0).position_weights(np.array([10, 100])).tolist() == [0.0, 0.0]
    for m in (10, 35, 60):  # the prior of a text's first sentence is λ(m), its last λ(m)/m
        x = np.random.default_rng(m).normal(size=(m, 4))
        prior = select(x / np.linalg.norm(x, axis=1, keepdims=True), np.arange(m) % 3, n=2, rule=rule).position_prior
        weight = float(rule.position_weights(np.array([m]))[0])
        assert prior[0] == pytest.approx(weight) and prior[-1] == pytest.approx(weight / m)


def test_select_ties_go_to_the_earlier_sentence() -> None:
    x = np.tile([[0.0, 1.0]], (4, 1))
    selected = select(x, np.zeros(4, dtype=int), n=3).selected
    assert selected.tolist() == [True, False, False, False]


@pytest.mark.parametrize("fields", [{"long_text_from": 45, "long_text_to": 25}, {"long_text_from": 30, "long_text_to": 30},
                                    {"position_weight": -0.1}, {"long_text_factor": float("nan")}, {"clusters_per_sentence": 0.0}])
def test_a_rule_that_contradicts_itself_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(InvalidArgumentError, match="SelectionRule"):
        SelectionRule(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rule",
    [SelectionRule(), SelectionRule(1.0, 0.0), SelectionRule(2.0, 0.5), SelectionRule(2.0, 1.0, 0.3, True), SelectionRule(3.0, 1.0, 0.0, False),
     SelectionRule(rank_by_size=True), SelectionRule(long_text_factor=1.0)],
)
def test_select_many_equals_select_per_text(rule: SelectionRule) -> None:
    rng = np.random.default_rng(0)
    counts = [3, 0, 1, 12, 7, 0, 25, 38, 60]  # the last two are long enough for a stronger position prior
    offsets = np.cumsum([0, *counts])
    x = rng.normal(size=(offsets[-1], 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[5] = x[4]  # a repeated sentence
    labels = np.concatenate([rng.integers(0, max(1, min(m, 5)), size=m) for m in counts])
    ns = np.array([2, 0, 1, 3, 9, 0, 4, 3, 3])
    boiler = rng.random(offsets[-1]) < 0.3
    boiler[offsets[2] : offsets[3]] = True  # a text of nothing but boilerplate
    together = select_many(x, offsets, labels, ns, rule, boiler)
    for i, (start, stop) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        alone = select(x[start:stop], labels[start:stop], int(ns[i]), rule, boiler[start:stop])
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_array_equal(a, b[start:stop])
            assert a.dtype == b.dtype


def test_a_word_budget_walks_the_ranking_and_skips_what_does_not_fit() -> None:
    # four one-sentence clusters ranked by size: 0 (size 4) > 1 (3) > 2 (2) > 3 (1), one row each shown
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 3])
    x = np.eye(4)[labels]
    words = np.array([10, 1, 1, 1, 30, 1, 1, 5, 1, 4])  # representatives: rows 0, 4, 7, 9 (the first of each)
    ranked = select_many(x, np.array([0, 10]), labels, np.array([10]), SelectionRule(3.0, 0.0, 0.0, False))
    assert np.flatnonzero(ranked.selected).tolist() == [0, 4, 7, 9]
    budget = select_many(x, np.array([0, 10]), labels, np.array([10]), SelectionRule(3.0, 0.0, 0.0, False), None, 20, words)
    assert np.flatnonzero(budget.selected).tolist() == [0, 7, 9]  # 10 + (30 skipped) + 5 + 4 = 19 words
    capped = select_many(x, np.array([0, 10]), labels, np.array([2]), SelectionRule(3.0, 0.0, 0.0, False), None, 20, words)
    assert np.flatnonzero(capped.selected).tolist() == [0, 7]  # n still caps the sentences
    tight = select_many(x, np.array([0, 10]), labels, np.array([10]), SelectionRule(3.0, 0.0, 0.0, False), None, 3, words)
    assert np.flatnonzero(tight.selected).tolist() == [0]  # the best sentence even alone over the budget
    boiler = np.zeros(10, dtype=bool)
    boiler[9] = True  # a short byline: ranked last, it would fit what the budget leaves
    with_byline = select_many(x, np.array([0, 10]), labels, np.array([10]), SelectionRule(3.0, 0.0, 0.0, True), boiler, 20, words)
    assert np.flatnonzero(with_byline.selected).tolist() == [0, 7]
    only_byline = select_many(x[9:], np.array([0, 1]), labels[9:], np.array([10]), SelectionRule(3.0, 0.0, 0.0, True), boiler[9:], 1,
                              words[9:])
    assert only_byline.selected.tolist() == [True]  # a text of nothing but boilerplate still has a summary


def test_a_word_budget_through_the_doors(tiny_runtime: Runtime, tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path,
                                         tmp_path: Path) -> None:
    budgeted = summarize_array(pa.array([ARTICLE, None], pa.string()), 10, tiny_runtime, max_words=30).to_pylist()
    picked = [t.text for t in split_sentences(budgeted[0])]
    assert budgeted[1] is None and all(p in SENTENCES for p in picked)
    assert len(budgeted[0].split()) <= 30 or len(picked) == 1
    assert summarize_array(pa.array([ARTICLE]), 3, tiny_runtime, max_words=None).to_pylist() == summaries([ARTICLE], 3, tiny_runtime)
    sql = tiny_con.execute("SELECT sqlml.summarize(?, n := 10, max_words := 30)", [ARTICLE]).fetchone()[0]
    explained = tiny_con.execute("SELECT summarize_explain(?, n := 10, max_words := 30)", [ARTICLE]).fetchone()[0]
    assert sql == budgeted[0] == " ".join(r["sentence"] for r in explained if r["selected"])
    assert sqlml.summarize([ARTICLE], 10, max_words=30, model=str(tiny_model_dir)) == budgeted[:1]
    pq.write_table(pa.table({"body": [ARTICLE]}), tmp_path / "in.parquet")
    result = CliRunner().invoke(main, ["summarize", str(tmp_path / "in.parquet"), "-c", "body", "-n", "10", "--max-words", "30",
                                       "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", "-o", str(tmp_path / "out.parquet")])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.parquet").column("summary").to_pylist() == budgeted[:1]


@pytest.mark.parametrize("max_words", [0, -3, True, 2.5])
def test_max_words_must_be_a_positive_whole_number(tiny_runtime: Runtime, max_words: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_words must be a positive number of words"):
        summarize_array(pa.array([ARTICLE]), 3, tiny_runtime, max_words=max_words)  # type: ignore[arg-type]


def test_a_column_job_refuses_bad_summary_lengths_before_any_batch() -> None:
    from sqlml.jobs.column import ColumnOp

    for options, message in (({"max_words": 0}, "max_words must be"), ({"n": 0}, "n must be")):
        with pytest.raises(InvalidArgumentError, match=message):
            ColumnOp("summarize", options)  # sqlml.ray.map_column builds one on the driver, before any actor


def test_model_and_on_error_keep_their_sql_positions(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    by_name = tiny_con.execute("SELECT sqlml.summarize(?, n := 2, model := ?, on_error := 'null')", [ARTICLE, str(tiny_model_dir)]).fetchone()
    by_position = tiny_con.execute("SELECT sqlml.summarize(?, 2, ?, 'null')", [ARTICLE, str(tiny_model_dir)]).fetchone()
    assert by_position == by_name


def test_distinct_counts_per_text() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    x[1] = x[0]  # a repeated row
    x[3, :2] = x[2, :2]  # equal first columns, different rows
    x[7] = x[6]
    x[9], x[10] = np.zeros(4, np.float32), -np.zeros(4, np.float32)  # -0.0 == 0.0
    offsets = np.array([0, 2, 4, 4, 7, 8, 11, 12])
    assert distinct_counts(x, offsets).tolist() == [1, 2, 0, 3, 1, 2, 1]
    assert distinct_counts(x[:0], np.array([0, 0])).tolist() == [0]


# --- edge cases through the op ---------------------------------------------------------------------------


def test_summary_is_verbatim_ordered_and_has_n_sentences(tiny_runtime: Runtime) -> None:
    (summary,) = summaries([ARTICLE], 3, tiny_runtime)
    picked = [s.text for s in split_sentences(summary)]
    assert len(picked) == 3
    assert all(p in SENTENCES for p in picked)
    assert [SENTENCES.index(p) for p in picked] == sorted(SENTENCES.index(p) for p in picked)


def test_fewer_sentences_than_n_returns_all_in_order(tiny_runtime: Runtime) -> None:
    text = "Only two here. And the second one."
    assert summaries([text], 5, tiny_runtime) == ["Only two here. And the second one."]


def test_one_sentence_and_no_end_mark(tiny_runtime: Runtime) -> None:
    assert summaries(["Just one sentence.", "no end mark at all"], 3, tiny_runtime) == ["Just one sentence.", "no end mark at all"]


def test_duplicate_sentences_are_selected_once(tiny_runtime: Runtime) -> None:
    text = "Same words again. Same words again. Something else entirely. Same words again."
    assert summaries([text], 3, tiny_runtime) == ["Same words again. Something else entirely."]
    explained = explain_texts([text], [3], tiny_runtime)
    assert explained.selected.tolist() == [True, False, True, False]


def test_null_empty_and_null_n_give_null(tiny_runtime: Runtime) -> None:
    assert summaries([None, "", "   \n", ARTICLE], [3, 3, 3, None], tiny_runtime) == [None, None, None, None]


@pytest.mark.parametrize("n", [0, -2])
def test_n_must_be_positive(tiny_runtime: Runtime, n: int) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"^summarize: n must be a positive number of sentences, got {n}; pass n := 1 or more$"):
        summaries([ARTICLE], n, tiny_runtime)


def test_per_row_n(tiny_runtime: Runtime) -> None:
    out = summaries([ARTICLE, ARTICLE, ARTICLE], [1, 2, 8], tiny_runtime)
    assert [len(split_sentences(s)) for s in out] == [1, 2, 8]  # type: ignore[arg-type]
    assert out[2] == " ".join(SENTENCES)


def test_very_long_article(tiny_runtime: Runtime) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i % 7} in detail." for i in range(2000))
    (summary,) = summaries([text], 5, tiny_runtime)
    picked = [s.text for s in split_sentences(summary)]  # type: ignore[arg-type]
    assert len(picked) == 5 and all(p in text for p in picked)


def test_one_long_text_costs_the_batches_of_its_sentences_as_rows(tiny_runtime: Runtime) -> None:
    # Its sentences go to the runtime as a few large requests; as rows, DuckDB hands them over 2048 at a time.
    sentences = [f"Item {i} {'word ' * (i * 7 % 41)}ends here." for i in range(5000)]
    assert [s.text for s in split_sentences(" ".join(sentences))] == sentences
    start = tiny_runtime.snapshot()
    summaries([" ".join(sentences)], 3, tiny_runtime)
    middle = tiny_runtime.snapshot()
    for i in range(0, len(sentences), 2048):
        tiny_runtime.embed(sentences[i : i + 2048])
    end = tiny_runtime.snapshot()
    long_text = {name: getattr(middle, name) - getattr(start, name) for name in ("rows", "tokens", "batches", "padded_tokens")}
    as_rows = {name: getattr(end, name) - getattr(middle, name) for name in ("rows", "tokens", "batches", "padded_tokens")}
    assert long_text["rows"] == as_rows["rows"] == 5000 and long_text["tokens"] == as_rows["tokens"]
    assert long_text["batches"] <= as_rows["batches"] and long_text["padded_tokens"] <= as_rows["padded_tokens"]


def test_deterministic_and_independent_of_the_batch(tiny_runtime: Runtime) -> None:
    alone = summaries([ARTICLE], 3, tiny_runtime)[0]
    batch = summaries(["Other text. With sentences. Three of them.", ARTICLE, None], 3, tiny_runtime)
    assert summaries([ARTICLE], 3, tiny_runtime)[0] == alone == batch[1]


def test_pieces_on_the_shared_pool_give_the_single_piece_result(tiny_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["Other text. With sentences. Three of them.", None, ARTICLE, "   ", ARTICLE, "Alone.", ARTICLE[::-1]]
    ns: list[int | None] = [1, 2, 3, 2, None, 2, 2]
    monkeypatch.setenv("SQLML_SUMMARIZE_PIECE", "0")
    whole = explain_texts(texts, ns, tiny_runtime)
    monkeypatch.setenv("SQLML_SUMMARIZE_PIECE", "2")
    pieces = explain_texts(texts, ns, tiny_runtime)
    assert pieces.offsets.tolist() == whole.offsets.tolist() and pieces.sentences == whole.sentences
    assert pieces.summaries().to_pylist() == whole.summaries().to_pylist()
    for name in ("cluster", "cluster_size", "selected"):
        assert getattr(pieces, name).tolist() == getattr(whole, name).tolist()
    np.testing.assert_allclose(pieces.score, whole.score, atol=1e-5)


def test_many_texts_explained_at_once_equal_each_text_alone(tiny_runtime: Runtime) -> None:
    texts = ["Other text. With sentences. Three of them.", None, ARTICLE, "   ", ARTICLE, "Alone."]
    ns: list[int | None] = [1, 2, 3, 2, None, 2]
    explained = explain_texts(texts, ns, tiny_runtime)
    assert explained.offsets.tolist() == [0, 3, 3, len(SENTENCES) + 3, len(SENTENCES) + 3, len(SENTENCES) + 3, len(SENTENCES) + 4]
    together = explained.explanations().to_pylist()
    alone = [explain_texts([t], [n], tiny_runtime).explanations().to_pylist()[0] for t, n in zip(texts, ns, strict=True)]
    assert [e is None for e in together] == [e is None for e in alone] == [False, True, False, True, True, False]
    for rows, expected in zip(together, alone, strict=True):  # scores: only the batched embedding's rounding differs
        floats = ("score", "cluster_similarity", "centrality", "position_prior")
        assert [{**r, **{k: pytest.approx(r[k]) for k in floats}} for r in rows or []] == (expected or [])
    assert explained.summaries().to_pylist() == [summaries([t], [n], tiny_runtime)[0] for t, n in zip(texts, ns, strict=True)]


def test_explanation_covers_every_sentence_and_matches_the_summary(tiny_runtime: Runtime) -> None:
    (rows,) = explain_texts([ARTICLE], [3], tiny_runtime).explanations().to_pylist()
    assert [r["position"] for r in rows] == list(range(len(SENTENCES)))
    assert [r["sentence"] for r in rows] == SENTENCES
    assert sum(r["selected"] for r in rows) == 3
    assert " ".join(r["sentence"] for r in rows if r["selected"]) == summaries([ARTICLE], 3, tiny_runtime)[0]
    for r in rows:  # cluster_size agrees with the cluster ids; the representative is the best of its cluster
        members = [o for o in rows if o["cluster"] == r["cluster"]]
        assert r["cluster_size"] == len(members)
        if r["selected"]:
            assert r["score"] == max(o["score"] for o in members if not o["boilerplate"])
    assert len({r["cluster"] for r in rows}) == min(9, len(SENTENCES))  # k = 3n, at most the sentences


# --- score components and boilerplate ------------------------------------------------------------------

BYLINED = "By . Daily Mail Reporter . PUBLISHED: . 14:11 EST, 25 October 2013 . | . UPDATED: . 15:36 EST, 25 October 2013 . " + ARTICLE


def test_boilerplate_patterns() -> None:
    sentences = [
        "By .", "Daily Mail Reporter .", "PUBLISHED: . 14:11 EST, 25 October 2013 . | .", "Last updated at 2:18 PM on 30th December 2011 .",
        "Scroll down for video .", "| .", "(CNN) -- The bank raised rates on Thursday.", "By the end of the day, markets had fallen.",
        "A long sentence that follows nothing special and has many words in it.",
    ]
    assert boilerplate_mask(sentences, np.array([0, len(sentences)])).tolist() == [True] * 6 + [False] * 3
    # A short sentence after "By ." is a byline name only inside the same text.
    assert boilerplate_mask(["By .", "Jill Reilly ."], np.array([0, 1, 2])).tolist() == [True, False]


def test_a_long_sentence_that_mentions_a_pattern_is_content() -> None:
    # Boilerplate is short (the longest in the CNN/DailyMail sample has 47 characters): a sentence past
    # MAX_CHARS that quotes a pattern is the article's own text.
    long = "The minister UPDATED: the figures late on Tuesday, and the markets, which had waited all week, fell at once."
    short = "UPDATED: . 15:36 EST, 25 October 2013 ."
    assert len(long) > MAX_CHARS >= len(short)
    assert boilerplate_mask([long, short, "Scroll down for video ."], np.array([0, 3])).tolist() == [False, True, True]


def test_a_byline_sentence_is_never_picked_when_alternatives_exist(tiny_runtime: Runtime) -> None:
    for n in (1, 3, 5, 8):
        (rows,) = explain_texts([BYLINED], [n], tiny_runtime).explanations().to_pylist()
        marked = [r["sentence"] for r in rows if r["boilerplate"]]
        assert marked == [s.text for s in split_sentences(BYLINED)][:4]  # By, name, PUBLISHED, UPDATED
        assert not any(r["selected"] and r["boilerplate"] for r in rows)
        assert sum(r["selected"] for r in rows) == min(n, len({r["cluster"] for r in rows}))
    # In the pure rule: a boilerplate sentence that scores best in its cluster still is not its representative.
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    picked = select(x, np.array([0, 0, 0, 1]), 2, DEFAULT_RULE, np.array([True, False, False, False])).selected
    assert not picked[0] and picked.sum() == 2
    # A text of nothing but boilerplate still gets a summary.
    assert summaries(["By . Scroll down for video ."], 1, tiny_runtime)[0] is not None


def test_explanation_shows_every_score_component(tiny_runtime: Runtime) -> None:
    (rows,) = explain_texts([BYLINED], [3], tiny_runtime).explanations().to_pylist()
    rule = DEFAULT_RULE
    content = [r for r in rows if not r["boilerplate"]]
    for r in rows:
        assert r["score"] == pytest.approx(r["cluster_similarity"] + rule.centrality_weight * r["centrality"] + r["position_prior"])
    assert all(r["position_prior"] == 0 for r in rows if r["boilerplate"])
    m = len(content)  # the prior counts positions among the non-boilerplate sentences
    assert [r["position_prior"] for r in content] == pytest.approx([rule.position_weight * (1 - p / m) for p in range(m)])
    assert rule.position_weight > 0 and content[0]["position_prior"] > content[-1]["position_prior"]


def test_same_input_same_output_with_the_new_terms(tiny_runtime: Runtime) -> None:
    first = explain_texts([BYLINED, ARTICLE], [3, 2], tiny_runtime).explanations().to_pylist()
    assert explain_texts([BYLINED, ARTICLE], [3, 2], tiny_runtime).explanations().to_pylist() == first
    (alone,) = explain_texts([BYLINED], [3], tiny_runtime).explanations().to_pylist()
    floats = ("score", "cluster_similarity", "centrality", "position_prior")  # only the batched embedding's rounding differs
    assert [{**r, **{k: pytest.approx(r[k]) for k in floats}} for r in first[0]] == alone


# --- Python API --------------------------------------------------------------------------------------------


def test_python_api_keeps_the_input_kind(tiny_model_dir: Path) -> None:
    kw = {"model": str(tiny_model_dir), "device": "cpu"}
    as_list = sqlml.summarize([ARTICLE, None, ""], n=2, **kw)
    assert isinstance(as_list, list) and as_list[1:] == [None, None] and len(split_sentences(as_list[0])) == 2
    as_arrow = sqlml.summarize(pa.array([ARTICLE, None]), n=2, **kw)
    assert isinstance(as_arrow, pa.StringArray) and as_arrow.to_pylist() == as_list[:2]
    as_polars = sqlml.summarize(pl.Series("body", [ARTICLE]), n=2, **kw)
    assert isinstance(as_polars, pl.Series) and as_polars.name == "summary" and as_polars.to_list() == as_list[:1]
    explained = sqlml.summarize_explain([ARTICLE, None], n=2, **kw)
    assert explained[1] is None and [r["sentence"] for r in explained[0]] == SENTENCES
    assert sqlml.summarize([], **kw) == []


def test_python_api_rejects_bad_n(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^summarize_explain: n must be a positive number of sentences, got 0; pass n := 1 or more$"):
        sqlml.summarize_explain([ARTICLE], n=0, model=str(tiny_model_dir), device="cpu")


# --- SQL ---------------------------------------------------------------------------------------------------


def test_sql_forms(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.execute("CREATE TABLE news AS SELECT * FROM (VALUES (1, ?, 2), (2, NULL, 3), (3, '', 3), (4, ?, NULL)) t(id, body, k)", [ARTICLE, ARTICLE])
    rows = tiny_con.execute(
        "SELECT id, sqlml.summarize(body), body.summarize(n := 2), sqlml.summarize(body, n := k) FROM news ORDER BY id"
    ).fetchall()
    default3 = rows[0][1]
    assert len(split_sentences(default3)) == 3 and len(split_sentences(rows[0][2])) == 2 and rows[0][3] == rows[0][2]
    assert [r[1:] for r in rows[1:]] == [(None, None, None), (None, None, None), (default3, rows[0][2], None)]
    assert tiny_con.execute("SELECT typeof(sqlml.summarize('A. B.'))").fetchall() == [("VARCHAR",)]


def test_sql_explain(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.execute(
        "SELECT s.position, s.sentence, s.cluster, s.cluster_size, s.score, s.selected "
        "FROM (SELECT unnest(summarize_explain(?, n := 3)) AS s)",
        [ARTICLE],
    ).fetchall()
    assert [r[0] for r in rows] == list(range(len(SENTENCES))) and [r[1] for r in rows] == SENTENCES
    summary = tiny_con.execute("SELECT sqlml.summarize(?, n := 3)", [ARTICLE]).fetchall()[0][0]
    assert " ".join(r[1] for r in rows if r[5]) == summary
    kind = tiny_con.execute("SELECT typeof(summarize_explain('A. B.'))").fetchall()[0][0]
    assert kind == (
        "STRUCT(\"position\" INTEGER, sentence VARCHAR, \"cluster\" INTEGER, cluster_size INTEGER, score DOUBLE, selected BOOLEAN, "
        "cluster_similarity DOUBLE, centrality DOUBLE, position_prior DOUBLE, boilerplate BOOLEAN)[]"
    )
    assert tiny_con.execute("SELECT summarize_explain(NULL), summarize_explain('  ')").fetchall() == [(None, None)]


def test_sql_group_summary_and_bad_n(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.execute(
        "SELECT g, sqlml.summarize(string_agg(s, ' ' ORDER BY i), n := 2) FROM (VALUES (1, 'a', 'One here.'), "
        "(2, 'a', 'Two here.'), (3, 'a', 'Three here.'), (4, 'b', 'Alone.')) t(i, g, s) GROUP BY g ORDER BY g"
    ).fetchall()
    assert rows[1] == ("b", "Alone.") and len(split_sentences(rows[0][1])) == 2
    with pytest.raises(duckdb.Error, match=r"summarize: n must be a positive number of sentences, got 0; pass n := 1 or more"):
        tiny_con.execute("SELECT sqlml.summarize('A. B.', n := 0)").fetchall()


def test_sql_many_rows_keep_order(tiny_con: duckdb.DuckDBPyConnection) -> None:
    texts = [f"Row {i} begins here. It has a middle part. Row {i} ends now." for i in range(3000)]
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS body, generate_subscripts(?, 1) AS i)", [texts, texts])
    out = tiny_con.execute("SELECT i, sqlml.summarize(body, n := 1) FROM t ORDER BY i").fetchall()
    assert len(out) == 3000 and all(f"Row {i - 1} " in s for i, s in out)


# --- CLI ---------------------------------------------------------------------------------------------------


def test_cli_adds_a_summary_column(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "body": [ARTICLE, None, "Short one."]}), source)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        main, ["summarize", str(source), "--column", "body", "-n", "2", "-o", str(out), "--as", "gist", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == ["id", "body", "gist"]
    gist = table.column("gist").to_pylist()
    assert gist[1:] == [None, "Short one."] and len(split_sentences(gist[0])) == 2


def test_cli_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["A. B."]}), source)
    bad_n = CliRunner().invoke(main, ["summarize", str(source), "-c", "body", "-n", "0", "-o", str(tmp_path / "o.parquet"), "--model", str(tiny_model_dir)])
    assert bad_n.exit_code == 1 and "Error: summarize: n must be a positive number of sentences, got 0" in bad_n.output
    missing = CliRunner().invoke(main, ["summarize", str(source), "-c", "text", "-o", str(tmp_path / "o.parquet"), "--model", str(tiny_model_dir)])
    assert missing.exit_code == 1 and "Error: column 'text' is not in the input; its columns are: body" in missing.output
    assert not (tmp_path / "o.parquet").exists()
    help_text = CliRunner().invoke(main, ["summarize", "--help"]).output
    assert "sqlml summarize articles.parquet --column body -n 3 -o summaries.parquet" in help_text


# --- quality (real default model) -------------------------------------------------------------------------


def test_default_model_summary_covers_both_topics(default_con: duckdb.DuckDBPyConnection) -> None:
    rows = default_con.execute("SELECT unnest(summarize_explain(?, n := 2)) AS s", [ARTICLE]).fetchall()
    picked = [r[0]["sentence"] for r in rows if r[0]["selected"]]
    finance = {SENTENCES[i] for i in (0, 1, 4, 6)}
    assert len(picked) == 2 and len(finance & set(picked)) == 1, picked


# --- properties on random texts ----------------------------------------------------------------------------

WORDS = ["rates", "bank", "team", "cup", "fans", "profit", "sales", "vote", "film", "court"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=6),
)
@example(words=[['rates'], ['fans'], ['sales'], ['sales'], ['rates']], n=1)  # found by hypothesis: BLAS rounded equal rows apart
@example(words=[['rates']] * 5 + [['rates', 'rates']], n=1)
def test_summary_properties(tiny_runtime: Runtime, words: list[list[str]], n: int) -> None:
    text = " ".join(" ".join(w).capitalize() + "." for w in words)
    sentences = [s.text for s in split_sentences(text)]
    explained = explain_texts([text], [n], tiny_runtime)
    chosen = np.flatnonzero(explained.selected).tolist()
    assert len(chosen) == min(n, len(set(sentences)))
    assert len({sentences[p] for p in chosen}) == len(chosen)  # a repeated sentence at most once
    assert all(sentences.index(sentences[p]) == p for p in chosen)  # ... at its first position
    assert explained.summaries().to_pylist() == [" ".join(sentences[p] for p in chosen)]
    assert summaries([text], n, tiny_runtime) == explained.summaries().to_pylist()


def test_python_summarize_with_n_none_gives_null_as_sql_does(tiny_model_dir: Path) -> None:
    import sqlml

    assert sqlml.summarize(["One sentence. Two sentences."], n=None, model=str(tiny_model_dir), device="cpu") == [None]


def test_progress_bar_shows_for_small_calls_when_asked(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlml

    sqlml.summarize(["One sentence. Two sentences."], n=1, model=str(tiny_model_dir), device="cpu", show_progress=True)
    assert "summarize" in capsys.readouterr().err


def test_a_bad_cache_variable_does_not_fail_operations_that_use_no_cache(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlml

    monkeypatch.setenv("SQLML_CACHE", "maybe")
    assert sqlml.summarize(["One sentence. Two sentences."], n=1, model=str(tiny_model_dir), device="cpu") is not None
    monkeypatch.setenv("SQLML_SHOW_PROGRESS", "maybe")  # a connection shows no progress bar
    with sqlml.connect(model=str(tiny_model_dir), device="cpu") as con:
        assert con.sql("SELECT 1").fetchall() == [(1,)]
