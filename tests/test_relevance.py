"""relevance, top_k_sentences and sqlml_search: SQL, Python API and CLI (mostly on the tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.cli import main
from sqlml.ops.relevance.bm25 import bm25_scores, tokenize

DOCS = [
    "The central bank raised interest rates by half a point to fight inflation.",
    "The striker scored twice as the home side won the cup final.",
    None,
    "Voters go to the polls on Sunday in a tight election.",
    "Mortgage rates fell again this week as lenders compete for borrowers.",
]


@pytest.fixture
def news(tiny_con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    tiny_con.execute("CREATE TABLE news (id INTEGER, body VARCHAR, category VARCHAR)")
    tiny_con.executemany("INSERT INTO news VALUES (?, ?, ?)", [[i, d, "c" + str(i % 2)] for i, d in enumerate(DOCS)])
    return tiny_con


# -- relevance --------------------------------------------------------------------------------------
def test_relevance_is_cosine_of_embeddings(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql(
        "SELECT relevance(body, 'interest rates'), array_cosine_similarity(embed(body), embed('interest rates')) FROM news ORDER BY id"
    ).fetchall()
    assert rows[2] == (None, None)
    for ours, reference in rows[:2] + rows[3:]:
        assert ours == pytest.approx(reference, abs=1e-5)


def test_relevance_null_query_gives_null(news: duckdb.DuckDBPyConnection) -> None:
    assert news.sql("SELECT DISTINCT relevance(body, NULL) FROM news").fetchall() == [(None,)]


def test_relevance_per_row_queries(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql(
        "SELECT relevance(body, CASE WHEN id % 2 = 0 THEN 'rates' ELSE 'football' END), "
        "relevance(body, 'rates'), relevance(body, 'football') FROM news WHERE body IS NOT NULL ORDER BY id"
    ).fetchall()
    ids = [0, 1, 3, 4]
    for i, (mixed, rates, football) in zip(ids, rows, strict=True):
        assert mixed == pytest.approx(rates if i % 2 == 0 else football)


@pytest.mark.parametrize("query", ["''", "'   '"])
def test_relevance_empty_query_is_an_error(news: duckdb.DuckDBPyConnection, query: str) -> None:
    with pytest.raises(duckdb.Error, match=r"relevance: query is empty or blank; pass the text to rank by, e\.g\. 'interest rates'"):
        news.sql(f"SELECT relevance(body, {query}) FROM news").fetchall()


def test_relevance_top_k_per_group_with_max_by(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql("SELECT category, max_by(id, relevance(body, 'rates'), 2) FROM news GROUP BY category ORDER BY 1").fetchall()
    scores = dict(news.sql("SELECT id, relevance(body, 'rates') FROM news WHERE body IS NOT NULL").fetchall())
    for category, ids in rows:
        members = [i for i in scores if "c" + str(i % 2) == category]
        assert ids == sorted(members, key=lambda i: -scores[i])[:2]


def test_relevance_python_api(tiny_model_dir: Path) -> None:
    scores = sqlml.relevance(DOCS, "interest rates", model=str(tiny_model_dir), device="cpu")
    assert scores.dtype == np.float32 and scores.shape == (5,)
    assert np.isnan(scores[2]) and not np.isnan(scores[[0, 1, 3, 4]]).any()
    with pytest.raises(sqlml.InvalidArgumentError, match="relevance: query is empty"):
        sqlml.relevance(DOCS, " ", model=str(tiny_model_dir), device="cpu")


def test_relevance_quality_on_real_model(default_con: duckdb.DuckDBPyConnection) -> None:
    rows = default_con.sql(
        "SELECT body FROM (VALUES ('The central bank raised interest rates to fight inflation.'), "
        "('The striker scored twice in the cup final.'), ('Voters go to the polls in a tight election.')) t(body) "
        "ORDER BY relevance(body, 'monetary policy and borrowing costs') DESC"
    ).fetchall()
    assert rows[0][0].startswith("The central bank")


# -- top_k_sentences --------------------------------------------------------------------------------
ARTICLE = "Rates rose again. The team won the cup. Inflation is cooling. Rates rose again. Fans cheered the team."


def test_top_k_sentences_best_first_and_substrings(news: duckdb.DuckDBPyConnection) -> None:
    (evidence,) = news.execute("SELECT top_k_sentences(?, 'Fans cheered the team.', k := 2)", [ARTICLE]).fetchall()[0]
    assert evidence[0] == "Fans cheered the team."
    assert len(evidence) == 2 and all(s in ARTICLE for s in evidence)


def test_top_k_sentences_more_than_available_gives_all_ranked(news: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    (evidence,) = news.execute("SELECT top_k_sentences(?, 'interest rates', k := 50)", [ARTICLE]).fetchall()[0]
    assert sorted(evidence) == sorted(["Rates rose again.", "The team won the cup.", "Inflation is cooling.", "Rates rose again.", "Fans cheered the team."])
    scores = sqlml.relevance(evidence, "interest rates", model=str(tiny_model_dir), device="cpu")
    assert (np.diff(scores) <= 0).all()  # best first
    assert sqlml.top_k_sentences([ARTICLE], "interest rates", k=50, model=str(tiny_model_dir), device="cpu") == [evidence]


def test_top_k_ties_keep_position_order() -> None:
    from sqlml.ops.relevance.scores import top_k

    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    assert top_k(scores, np.ones(6, dtype=bool), 4).tolist() == [1, 3, 0, 2]
    assert top_k(scores, np.array([True, False, True, True, True, True]), 10).tolist() == [3, 0, 2, 5, 4]


def test_top_k_sentences_tie_order_through_sql(news: duckdb.DuckDBPyConnection) -> None:
    # identical sentences get identical scores: the earlier one comes first
    text = "Alpha beta gamma. Delta epsilon. Alpha beta gamma. Zeta eta."
    (evidence,) = news.execute("SELECT top_k_sentences(?, 'Alpha beta gamma.', k := 2)", [text]).fetchall()[0]
    assert evidence == ["Alpha beta gamma.", "Alpha beta gamma."]
    spans = news.execute(
        "SELECT top_k_sentences(?, 'something else entirely', k := 4)", ["Same words. Same words. Same words. Same words."]
    ).fetchall()[0][0]
    assert spans == ["Same words."] * 4


def test_top_k_sentences_null_and_empty(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.execute("SELECT top_k_sentences(t, 'rates') FROM (VALUES (NULL), (''), ('  ')) v(t)").fetchall()
    assert rows == [(None,), ([],), ([],)]
    assert news.sql("SELECT DISTINCT top_k_sentences(body, NULL) FROM news").fetchall() == [(None,)]


@pytest.mark.parametrize("k", [0, -2])
def test_top_k_sentences_k_must_be_positive(news: duckdb.DuckDBPyConnection, k: int) -> None:
    with pytest.raises(duckdb.Error, match=f"top_k_sentences: k must be a whole number >= 1, got {k}"):
        news.sql(f"SELECT top_k_sentences(body, 'rates', k := {k}) FROM news").fetchall()


def test_top_k_sentences_empty_query_and_bad_mode(news: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="top_k_sentences: query is empty"):
        news.sql("SELECT top_k_sentences(body, '') FROM news").fetchall()
    with pytest.raises(duckdb.Error, match="top_k_sentences: mode must be 'semantic', 'lexical' or 'hybrid', not 'fuzzy'"):
        news.sql("SELECT top_k_sentences(body, 'rates', mode := 'fuzzy') FROM news").fetchall()


def test_top_k_sentences_lexical_and_hybrid(news: duckdb.DuckDBPyConnection) -> None:
    lexical, hybrid = news.execute(
        "SELECT top_k_sentences(?, 'interest rates', k := 3, mode := 'lexical'), top_k_sentences(?, 'interest rates', k := 3, mode := 'hybrid')",
        [ARTICLE, ARTICLE],
    ).fetchall()[0]
    assert lexical == ["Rates rose again.", "Rates rose again."]  # only sentences sharing a term
    assert hybrid[:2] == ["Rates rose again.", "Rates rose again."] and len(hybrid) == 3


# -- sqlml_search -----------------------------------------------------------------------------------
def test_search_returns_rows_score_and_rank(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql("SELECT * FROM sqlml_search('news', 'body', 'interest rates', k := 3)").fetchall()
    columns = news.sql("SELECT * FROM sqlml_search('news', 'body', 'interest rates', k := 3)").columns
    assert columns == ["id", "body", "category", "score", "rank"]
    assert [r[4] for r in rows] == [1, 2, 3]
    assert rows[0][0] in (0, 4)  # both rate articles lead: they match lexically
    assert all(r[1] is not None for r in rows)


def test_search_semantic_finds_exact_text_first(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql(f"SELECT id, score FROM sqlml_search('news', 'body', '{DOCS[3]}', k := 10, mode := 'semantic')").fetchall()
    assert rows[0][0] == 3 and rows[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(rows) == 4  # the NULL row never matches
    scores = [s for _, s in rows]
    assert scores == sorted(scores, reverse=True)


def test_search_lexical_only_returns_matching_rows(news: duckdb.DuckDBPyConnection) -> None:
    rows = news.sql("SELECT id FROM sqlml_search('news', 'body', 'election polls', k := 10, mode := 'lexical')").fetchall()
    assert rows == [(3,)]


def test_search_matches_python_api(news: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    for mode in ("semantic", "lexical", "hybrid"):
        sql = news.sql(f"SELECT id, score FROM sqlml_search('news', 'body', 'rates', k := 4, mode := '{mode}')").fetchall()
        table = pa.table({"id": list(range(5)), "body": DOCS})
        py = sqlml.search(table, "rates", k=4, mode=mode, column="body", model=str(tiny_model_dir), device="cpu")
        assert [r[0] for r in sql] == py.column("id").to_pylist()
        assert [r[1] for r in sql] == pytest.approx(py.column("score").to_pylist())


def test_search_python_api_shapes(tiny_model_dir: Path) -> None:
    options = {"model": str(tiny_model_dir), "device": "cpu"}
    texts = sqlml.search(DOCS, "rates", k=2, **options)
    assert texts.column_names == ["row", "text", "score", "rank"] and texts.column("rank").to_pylist() == [1, 2]
    assert texts.column("text").to_pylist() == [DOCS[r] for r in texts.column("row").to_pylist()]
    frame = sqlml.search(pl.DataFrame({"id": range(5), "body": DOCS}), "rates", k=2, column="body", **options)
    assert isinstance(frame, pl.DataFrame) and frame.columns == ["id", "body", "score", "rank"]
    with pytest.raises(sqlml.InvalidArgumentError, match="search: column must name the text column of the table, got 'text'; its columns are: id, body"):
        sqlml.search(pl.DataFrame({"id": range(5), "body": DOCS}), "rates", column="text", **options)


def test_search_null_query_and_empty_table_give_no_rows(news: duckdb.DuckDBPyConnection) -> None:
    assert news.sql("SELECT * FROM sqlml_search('news', 'body', NULL)").fetchall() == []
    news.execute("CREATE TABLE empty_news AS SELECT * FROM news LIMIT 0")
    assert news.sql("SELECT * FROM sqlml_search('empty_news', 'body', 'rates')").fetchall() == []


def test_search_errors(news: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="sqlml_search: query is empty"):
        news.sql("SELECT * FROM sqlml_search('news', 'body', '')").fetchall()
    with pytest.raises(duckdb.Error, match="sqlml_search: k must be a whole number >= 1, got 0"):
        news.sql("SELECT * FROM sqlml_search('news', 'body', 'rates', k := 0)").fetchall()
    with pytest.raises(duckdb.Error, match="sqlml_search: mode must be 'semantic', 'lexical' or 'hybrid', not 'bm25'"):
        news.sql("SELECT * FROM sqlml_search('news', 'body', 'rates', mode := 'bm25')").fetchall()
    with pytest.raises(duckdb.Error, match='Could not find key "text"'):
        news.sql("SELECT * FROM sqlml_search('news', 'text', 'rates')").fetchall()


def test_search_over_a_parquet_file(news: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "news.parquet"
    pq.write_table(pa.table({"id": list(range(5)), "body": DOCS}), path)
    rows = news.sql(f"SELECT id FROM sqlml_search('{path}', 'body', 'election', k := 1, mode := 'lexical')").fetchall()
    assert rows == [(3,)]


def test_search_ties_keep_table_order(news: duckdb.DuckDBPyConnection) -> None:
    news.execute("CREATE TABLE twins AS SELECT i AS id, 'same text about rates' AS body FROM range(6) t(i)")
    rows = news.sql("SELECT id, rank FROM sqlml_search('twins', 'body', 'rates', k := 4)").fetchall()
    assert rows == [(0, 1), (1, 2), (2, 3), (3, 4)]


OWN_SCORE = (
    "sqlml_search: the table already has a column named {name!r}; the results add their own score and rank columns, "
    "so rename it first (in SQL, use a view: CREATE VIEW v AS SELECT * RENAME ({name} AS table_{name}) FROM t)"
)


@pytest.mark.parametrize("name", ["score", "rank", "Score"])
def test_search_refuses_a_table_with_its_own_score_or_rank(news: duckdb.DuckDBPyConnection, name: str) -> None:
    news.execute(f'CREATE TABLE scored AS SELECT *, id * 10 AS "{name}" FROM news')
    message = OWN_SCORE.format(name=name).replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    with pytest.raises(duckdb.Error, match=message):
        news.sql("SELECT * FROM sqlml_search('scored', 'body', 'rates')").fetchall()
    news.execute("CREATE TABLE empty_scored AS SELECT * FROM scored LIMIT 0")
    with pytest.raises(duckdb.Error, match=message):  # the columns are wrong whether or not rows come back
        news.sql("SELECT * FROM sqlml_search('empty_scored', 'body', 'rates')").fetchall()
    news.execute(f"CREATE VIEW renamed AS SELECT * RENAME ({name} AS table_{name}) FROM scored")
    renamed = news.sql("SELECT * FROM sqlml_search('renamed', 'body', 'rates', k := 2)")
    assert renamed.columns == ["id", "body", "category", f"table_{name}", "score", "rank"]
    assert [(r[0] * 10, r[5]) for r in renamed.fetchall()] == [(r[0] * 10, r[1]) for r in news.sql(
        "SELECT id, rank FROM sqlml_search('news', 'body', 'rates', k := 2)").fetchall()]


@pytest.mark.parametrize("name", ["__sqlml_row", "source", "hits", "row", "fields", "position"])
def test_search_own_names_never_meet_the_table_columns(news: duckdb.DuckDBPyConnection, name: str) -> None:
    news.execute(f'CREATE TABLE extra AS SELECT *, 100 - id AS "{name}" FROM news')
    got = news.sql("SELECT * FROM sqlml_search('extra', 'body', 'rates', k := 3)")
    assert got.columns == ["id", "body", "category", name, "score", "rank"]
    plain = news.sql("SELECT id, score, rank FROM sqlml_search('news', 'body', 'rates', k := 3)").fetchall()
    assert [(r[0], r[3], r[4], r[5]) for r in got.fetchall()] == [(i, 100 - i, s, n) for i, s, n in plain]
    news.execute(f'CREATE TABLE as_text AS SELECT id, body AS "{name}" FROM news')  # the text column itself so named
    hits = news.sql(f"SELECT id, score, rank FROM sqlml_search('as_text', '{name}', 'rates', k := 3)").fetchall()
    assert hits == plain


def test_python_and_cli_search_refuse_a_table_with_its_own_score(tmp_path: Path, tiny_model_dir: Path) -> None:
    table = pa.table({"id": list(range(5)), "body": DOCS, "score": [1.0] * 5})
    with pytest.raises(sqlml.InvalidArgumentError, match=r"^search: the table already has a column named 'score'; the results add"):
        sqlml.search(table, "rates", column="body", model=str(tiny_model_dir), device="cpu")
    path = tmp_path / "scored.parquet"
    pq.write_table(table, path)
    result = CliRunner().invoke(main, ["search", str(path), "-c", "body", "rates", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.startswith("Error: ") and OWN_SCORE.format(name="score") in result.output, result.output


# -- BM25 -------------------------------------------------------------------------------------------
def test_bm25_equals_bm25s_library() -> None:
    import bm25s
    import Stemmer

    corpus = [d or "" for d in DOCS] + ["rates rates rates", "the of and", "Interest-rate decisions and the rate outlook"]
    query = "central bank interest rates outlook"
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(bm25s.tokenize(corpus, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False), show_progress=False)
    expected = retriever.get_scores(tokenize([query])[0])
    np.testing.assert_allclose(bm25_scores(corpus, query), expected, rtol=1e-6)


def test_bm25_stopword_only_query_scores_zero() -> None:
    assert bm25_scores(["the cat", "a dog"], "the a of").tolist() == [0.0, 0.0]


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_search(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = tmp_path / "news.parquet"
    pq.write_table(pa.table({"id": list(range(5)), "body": DOCS}), path)
    runner = CliRunner()
    args = ["search", str(path), "--column", "body", "election", "-k", "2", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "score" in table.output and "rank" in table.output
    as_json = runner.invoke(main, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert rows[0]["id"] == 3 and [r["rank"] for r in rows] == [1, 2]
    missing = runner.invoke(main, ["search", str(path), "--column", "text", "election"])
    assert missing.exit_code == 1 and "column 'text' is not in the input; its columns are: id, body" in missing.output
    bad_k = runner.invoke(main, [*args[:-5], "-k", "0", "--model", str(tiny_model_dir), "--device", "cpu"])
    assert bad_k.exit_code == 1 and "sqlml_search: k must be a whole number >= 1, got 0" in bad_k.output


def test_cli_search_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["search", "--help"])
    assert result.exit_code == 0 and "sqlml search articles.parquet --column body" in result.output


def test_hybrid_is_equal_weight_sum_of_minmax_scores() -> None:
    from sqlml.ops.relevance.scores import hybrid

    semantic = np.array([0.2, 0.6, 0.4], dtype=np.float32)
    lexical = np.array([3.0, 0.0, 1.5], dtype=np.float32)
    np.testing.assert_allclose(hybrid(semantic, lexical), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(hybrid(semantic, np.zeros(3, dtype=np.float32)), [0.0, 0.5, 0.25])
    assert hybrid(np.array([0.3]), np.array([1.0])).tolist() == [0.0]  # a single text: nothing to normalise against


def test_python_top_k_sentences_lexical_needs_no_model() -> None:
    # Regression: the Python API looked up the cache of a runtime that lexical mode never loads
    # ("'NoneType' object has no attribute 'encoder'", blamed on row 1); SQL worked.
    import sqlml

    texts = ["Rates rose today. The weather was fine. Central banks raised interest rates again.", None, ""]
    got = sqlml.top_k_sentences(texts, "interest rates", k=2, mode="lexical")
    assert got == [["Central banks raised interest rates again.", "Rates rose today."], None, []]


def test_top_k_sentences_hybrid_on_texts_without_sentences(tiny_con) -> None:
    # Regression: with no sentence in the whole call, hybrid mode fused BM25 with semantic scores that were
    # never computed ("'NoneType' object has no attribute 'astype'").
    got = tiny_con.sql("SELECT top_k_sentences(t, 'rates', mode := 'hybrid') FROM (VALUES (''), ('   '), (NULL)) v(t)").fetchall()
    assert got == [([],), ([],), (None,)]


def test_python_relevance_needs_a_query(tiny_model_dir: Path) -> None:
    import sqlml

    with pytest.raises(sqlml.InvalidArgumentError, match="relevance: query must be text, not NoneType"):
        sqlml.relevance(["a text"], None, model=str(tiny_model_dir), device="cpu")
