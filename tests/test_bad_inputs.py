"""The bad-input catalogue: every listed input gives its documented result, rows keep count and order, the process lives.

docs/reliability.md lists the same catalogue with the documented result of each entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlml
from sqlml.cli import main
from sqlml.errors import ModelLoadError, ModelNotFoundError
from sqlml.models import registry

#: name -> text; every entry is a row of one table, so one query also proves count and order are kept.
TEXTS: dict[str, str | None] = {
    "null": None,
    "empty": "",
    "whitespace": " \t\n\u00a0 ",
    "no punctuation": "words without any full stop " * 50,
    "only punctuation": "!!! ... ??? ;;; ---",
    "emoji": "Great match 🎉⚽. Fans cheered 👏🏽👏🏽! 🤖🧠",
    "cjk": "今日は良い天気です。明日も晴れるでしょう。北京欢迎你。",
    "right-to-left": "مرحبا بالعالم. هذا نص تجريبي. שלום עולם.",
    "combining marks": "Ça\u0301 va\u0308\u0308. Z\u0351\u0352a\u0353l\u0354g\u0355o text.",
    "control and NUL": "nul\x00byte here. bell\x07 and\x1b escape. del\x7f.",
    "repeated sentences": "The same sentence. " * 200,
    "mixed scripts": "English, Русский, Ελληνικά, हिन्दी. 한국어 문장.",
}
#: Which entries give NULL (beyond NULL text): summarize has no sentence to pick in empty or blank text.
SUMMARY_NULL = {"null", "empty", "whitespace"}


@pytest.fixture
def catalogue(tiny_con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    tiny_con.execute("CREATE TABLE bad (id INTEGER, name VARCHAR, x VARCHAR)")
    tiny_con.executemany("INSERT INTO bad VALUES (?, ?, ?)", [[i, name, text] for i, (name, text) in enumerate(TEXTS.items())])
    return tiny_con


def test_catalogue_texts_give_documented_results(catalogue: duckdb.DuckDBPyConnection) -> None:
    rows = catalogue.sql(
        """SELECT id, name, x, embed(x) IS NULL, embed_list(x) IS NULL, sqlml.summarize(x, n := 2), summarize_explain(x, n := 2),
                  classify(x, ['sport', 'science']), classify_scores(x, ['sport', 'science']), relevance(x, 'a match'),
                  top_k_sentences(x, 'a match', k := 2)
           FROM bad ORDER BY id"""
    ).fetchall()
    assert [r[0] for r in rows] == list(range(len(TEXTS)))
    for _, name, text, embed_null, list_null, summary, explained, label, scores, score, top in rows:
        is_null = text is None
        assert embed_null == list_null == is_null, name
        assert (summary is None) == (name in SUMMARY_NULL), name
        assert (explained is None) == (name in SUMMARY_NULL), name
        assert (label is None) == (scores is None) == (score is None) == is_null, name
        if not is_null:
            assert label in ("sport", "science") and abs(sum(s["score"] for s in scores) - 1) < 1e-6, name
            assert -1.0001 <= score <= 1.0001, name
        if summary is not None:
            assert all(s["sentence"] in text for s in explained), name  # sentences are verbatim
            assert summary == " ".join(s["sentence"] for s in explained if s["selected"]), name
        if name == "repeated sentences":
            assert summary == "The same sentence.", "a repeated sentence appears once"
        if name in ("empty", "whitespace"):
            assert top == [], name
        assert (top is None) == is_null, name
        if top is not None:
            assert all(s in text for s in top) and len(top) <= 2, name


@pytest.mark.slow
def test_huge_text_and_huge_article(tiny_con: duckdb.DuckDBPyConnection) -> None:
    """A 5 MB text and a 50,000-sentence article go through every function (the model window truncates).

    Slow (~40 s on 2 CPU cores): the tokenizer reads all 5 MB before truncating (~5 s per function), and
    summarize embeds and clusters all 50,000 sentences (~12 s).
    """
    five_mb = ("lorem ipsum dolor sit amet " * 200_000)[: 5 * 1024 * 1024]
    article = " ".join(f"Sentence number {i} says something." for i in range(50_000))
    tiny_con.execute("CREATE TABLE big AS SELECT * FROM (VALUES (1, ?), (2, NULL), (3, ?)) v(id, x)", [five_mb, article])
    rows = tiny_con.sql(
        """SELECT id, embed(x) IS NULL, sqlml.summarize(x, n := 2), classify(x, ['a', 'b']), relevance(x, 'number 7'),
                  top_k_sentences(x, 'number 7', k := 1, mode := 'lexical')
           FROM big ORDER BY id"""
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]
    assert [r[1] for r in rows] == [False, True, False]
    assert rows[0][2] is not None and rows[0][2] in five_mb  # no punctuation: one long "sentence", verbatim
    assert rows[2][2] is not None and len(rows[2][2].split("says something.")) == 3  # two of the 50,000 sentences
    assert rows[1][2:] == (None, None, None, None)
    assert len(rows[2][5]) == 1 and rows[2][5][0] in article


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=120), min_size=1, max_size=12))
def test_any_unicode_keeps_rows_nulls_and_verbatim_sentences(tiny_con: duckdb.DuckDBPyConnection, texts: list[str | None]) -> None:
    rows = tiny_con.execute(
        """SELECT i, embed(x) IS NULL, summarize_explain(x, n := 2), classify(x, ['a', 'b']) IS NULL, relevance(x, 'q') IS NULL
           FROM (SELECT unnest(?::VARCHAR[]) AS x, unnest(range(len(?::VARCHAR[]))) AS i) ORDER BY i""",
        [texts, texts],
    ).fetchall()
    assert [r[0] for r in rows] == list(range(len(texts)))
    for (_, embed_null, explained, label_null, score_null), text in zip(rows, texts, strict=True):
        assert embed_null == label_null == score_null == (text is None)
        if explained is not None:
            assert text is not None and all(s["sentence"] in text for s in explained)


def test_python_invalid_surrogates_and_nul_bytes(tiny_model_dir: Path) -> None:
    model = str(tiny_model_dir)
    matrix = sqlml.embed(["a\x00b", "\udcff", None], model=model, on_error="null")
    assert matrix.shape == (3, 32)
    assert sqlml.summarize(["One\x00. Two.", "\udcff"], n=1, model=model, on_error="null")[1] is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sqlml.summarize(x, n := 0)", "summarize: n must be a positive number of sentences, got 0; pass n := 1 or more"),
        ("sqlml.summarize(x, n := -3)", "summarize: n must be a positive number of sentences, got -3"),
        ("sqlml.summarize(x, n := NULL)", None),
        ("sqlml.summarize(x, n := 9223372036854775807)", "One. Two? Three!"),
        ("top_k_sentences(x, 'q', k := 0)", "top_k_sentences: k must be a whole number >= 1, got 0"),
        ("top_k_sentences(x, 'q', k := -1)", "top_k_sentences: k must be a whole number >= 1, got -1"),
        ("top_k_sentences(x, 'q', k := NULL)", "top_k_sentences: k must be a whole number >= 1, got None"),
        ("len(top_k_sentences(x, 'q', k := 9223372036854775807))", 3),
        ("classify(x, []::VARCHAR[])", "classify: labels must be a non-empty list, e.g. ['sport', 'politics']"),
        ("classify(x, ['a', 'a'])", "classify: labels must be distinct; ['a'] appear more than once in ['a', 'a']"),
        ("classify(x, ['a', NULL])", "classify: labels must not contain NULL; got ['a', None]"),
        ("classify(x, NULL::VARCHAR[])", "classify: give labels (a list of label names) for zero-shot classification or model"),
        ("embed_list(x, model := 'no-such-model')", "model 'no-such-model' not found; known models: 'default'"),
        ("classify(x, model := 'no-such-head')", "classifier 'no-such-head' not found"),
    ],
)
def test_argument_values(tiny_con: duckdb.DuckDBPyConnection, expression: str, expected: object) -> None:
    sql = f"SELECT {expression} FROM (VALUES ('One. Two? Three!')) v(x)"
    if isinstance(expected, str) and ":" in expected or (isinstance(expected, str) and "not found" in expected):
        with pytest.raises(duckdb.Error, match=_literal(expected)):
            tiny_con.sql(sql).fetchall()
        assert tiny_con.sql("SELECT 1").fetchall() == [(1,)]  # the connection lives on
    else:
        assert tiny_con.sql(sql).fetchall() == [(expected,)]


def test_search_k_and_labels_per_row(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.execute("CREATE TABLE t AS SELECT i AS id, 'doc ' || i AS body FROM range(5) r(i)")
    assert tiny_con.sql("SELECT count(*) FROM sqlml_search('t', 'body', 'doc', k := 9223372036854775807)").fetchall() == [(5,)]
    rows = tiny_con.sql(
        "SELECT classify(x, l) FROM (VALUES (1, 'a', ['x', 'y']), (2, 'b', NULL), (3, 'c', ['x', 'y'])) v(i, x, l) ORDER BY i"
    ).fetchall()
    assert rows[1] == (None,) and rows[0][0] in ("x", "y")  # a NULL label list on one row -> NULL for that row


def _literal(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda d: (d / "model.safetensors").unlink(), ModelLoadError, "could not load model"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64), ModelLoadError, "could not load model"),
        (lambda d: [f.unlink() for f in d.iterdir() if f.is_file()], ModelLoadError, "could not load model"),
        (lambda d: (d / "config.json").unlink(), ModelLoadError, "could not load model"),
    ],
    ids=["missing weights", "corrupt safetensors", "empty folder", "missing config"],
)
def test_broken_model_directories(tiny_model_dir: Path, tmp_path: Path, damage, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    damage(broken)
    with pytest.raises(error, match=message):
        sqlml.embed(["x"], model=str(broken), device="cpu")


def test_pickle_weights_in_the_model_store_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A folder whose weights exist only as a pickle (pytorch_model.bin) is never unpickled."""
    import shutil

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    # a real pickle payload: unpickling it would create `marker`
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (folder / "pytorch_model.bin").write_bytes(payload)
    with pytest.raises(ModelLoadError):
        sqlml.embed(["x"], model=str(folder), device="cpu")
    assert not marker.exists()


def test_unknown_model_names_the_fix() -> None:
    with pytest.raises(ModelNotFoundError, match="model 'nope' not found; known models"):
        registry.resolve("nope")


def write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("command", [["embed"], ["summarize"], ["classify", "--labels", "a,b"]])
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing file", "does not exist (no file matches); check the path or quote the glob"),
        ("missing column", "column 'body' is not in the input; its columns are: id, text"),
        ("wrong type", "column 'body' has type int64, not text; choose a string column or cast it first"),
        ("unwritable output", "cannot write"),
    ],
)
def test_cli_file_problems(tmp_path: Path, tiny_model_dir: Path, command: list[str], case: str, message: str) -> None:
    good = write(tmp_path / "good.parquet", pa.table({"id": [1], "body": ["text"]}))
    inputs = {
        "missing file": tmp_path / "nope.parquet",
        "missing column": write(tmp_path / "cols.parquet", pa.table({"id": [1], "text": ["x"]})),
        "wrong type": write(tmp_path / "ints.parquet", pa.table({"id": [1], "body": [5]})),
        "unwritable output": good,
    }
    output = tmp_path / "no-such-dir" / "sub" / "out.parquet" if case == "unwritable output" else tmp_path / "out.parquet"
    if case == "unwritable output":
        (tmp_path / "no-such-dir").write_text("a file, not a folder")
    model = ["--embedding-model" if command[0] == "classify" else "--model", str(tiny_model_dir)]
    result = CliRunner().invoke(main, [*command, str(inputs[case]), "--column", "body", *model, "--device", "cpu", "--no-progress", "-o", str(output)])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not output.exists()
    assert json.dumps(result.output)  # one clean line, no traceback
    assert "Traceback" not in result.output
