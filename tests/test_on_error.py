"""The on_error policy: only failing rows become NULL (counted), 'raise' names the row and the fix, argument errors raise."""

from __future__ import annotations

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
from sqlml.errors import InvalidArgumentError, RowFailedError
from sqlml.models.encoder import Encoder

POISON = "POISON"
#: (function, SQL over column x, how to compare a result)
FUNCTIONS = [
    ("embed", "embed(x{})"),
    ("embed_list", "embed_list(x{})"),
    ("summarize", "sqlml.summarize(x, n := 1{})"),
    ("summarize_explain", "summarize_explain(x, n := 1{})"),
    ("classify", "classify(x, ['sport', 'politics']{})"),
    ("classify_scores", "classify_scores(x, ['sport', 'politics']{})"),
    ("relevance", "relevance(x, 'a query'{})"),
    ("top_k_sentences", "top_k_sentences(x, 'a query', k := 2{})"),
]


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tokenizer fail for any text containing POISON, as a bad row would."""
    original = Encoder.tokenize

    def tokenize(self: Encoder, texts: list[str]) -> list[list[int]]:
        if any(POISON in t for t in texts):
            raise RuntimeError("the tokenizer choked")
        return original(self, texts)

    monkeypatch.setattr(Encoder, "tokenize", tokenize)


def texts(rows: int, bad: set[int]) -> list[str | None]:
    return [None if i == 7 else (f"{POISON} row {i}. Second." if i in bad else f"Row {i} talks about sport. Then politics.") for i in range(rows)]


def assert_same(a: object, b: object) -> None:
    """Equal, floats within 1e-5 (rows batched differently may differ in the last bits), at any depth."""
    if isinstance(a, float):
        assert isinstance(b, float) and abs(a - b) <= 1e-5
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    else:
        assert a == b


def failures_by_reason(function: str) -> dict[str, int]:
    """Process-wide counters (other tests add to them too): compare before and after."""
    return {s["reason"]: s["value"] for s in sqlml.stats() if s["name"] == function and s["metric"] == "failed_rows"}


@pytest.mark.parametrize(("function", "expression"), FUNCTIONS)
def test_null_policy_nulls_exactly_the_failing_rows(tiny_con: duckdb.DuckDBPyConnection, poisoned: None, function: str, expression: str) -> None:
    bad = {3, 18, 19, 40}
    rows = texts(50, bad)
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS x, unnest(range(50)) AS id)", [rows])
    clean = [r if r is None or POISON not in r else None for r in rows]
    tiny_con.execute("CREATE TABLE c AS SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS x, unnest(range(50)) AS id)", [clean])
    before = failures_by_reason(function)
    with_null, plain = expression.format(", on_error := 'null'"), expression.format("")
    got = tiny_con.sql(f"SELECT id, {with_null} FROM t ORDER BY id").fetchall()
    expected = tiny_con.sql(f"SELECT id, {plain} FROM c ORDER BY id").fetchall()
    assert [r[0] for r in got] == list(range(50))
    assert [r[1] is None for r in got] == [i in bad or i == 7 for i in range(50)]
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert_same(a, b)
    after = failures_by_reason(function)
    added = {reason: count - before.get(reason, 0) for reason, count in after.items() if count != before.get(reason, 0)}
    assert added == {"RuntimeError": len(bad)}


def test_raise_policy_names_function_row_problem_and_fix(tiny_con: duckdb.DuckDBPyConnection, poisoned: None) -> None:
    tiny_con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS x", [texts(6, {4})])
    expected = (
        r"embed: row 5 of 6 in this batch \(text of 21 characters starting 'POISON row 4\. Second\.'\) failed: "
        r"RuntimeError: the tokenizer choked; fix or filter that row, or pass on_error := 'null' "
        r"\(Python on_error='null', CLI --on-error null\) to get NULL for failing rows"
    )
    with pytest.raises(duckdb.Error, match=expected):
        tiny_con.sql("SELECT embed(x) FROM t").fetchall()
    with pytest.raises(duckdb.Error, match=expected):
        tiny_con.sql("SELECT embed(x, on_error := 'raise') FROM t").fetchall()
    assert tiny_con.sql("SELECT count(embed(x)) FROM t WHERE x NOT LIKE 'POISON%'").fetchall() == [(5,)]  # still alive


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("sqlml.summarize(x, n := 0, on_error := 'null')", "n must be"),
        ("top_k_sentences(x, 'q', k := 0, on_error := 'null')", "k must be"),
        ("classify(x, []::VARCHAR[], on_error := 'null')", "label"),
        ("classify(x, ['a', 'a'], on_error := 'null')", "labels must be distinct"),
        ("embed_list(x, model := 'no-such-model', on_error := 'null')", "no-such-model"),
        ("relevance(x, '  ', on_error := 'null')", "query"),
        ("embed(x, on_error := 'skip')", r"embed: on_error must be 'raise' or 'null', not 'skip'"),
    ],
)
def test_argument_errors_raise_under_both_policies(tiny_con: duckdb.DuckDBPyConnection, sql: str, message: str) -> None:
    with pytest.raises(duckdb.Error, match=message):
        tiny_con.sql(f"SELECT {sql} FROM (VALUES ('A text. Another one.')) v(x)").fetchall()


def test_search_null_policy_skips_failing_rows(tiny_con: duckdb.DuckDBPyConnection, poisoned: None) -> None:
    tiny_con.execute("CREATE TABLE docs AS SELECT * FROM (VALUES (1, 'sport results'), (2, 'POISON sport'), (3, 'more sport')) v(id, body)")
    hits = tiny_con.sql("SELECT id FROM sqlml_search('docs', 'body', 'sport', k := 10, on_error := 'null') ORDER BY id").fetchall()
    assert hits == [(1,), (3,)]
    with pytest.raises(duckdb.Error, match=r"sqlml_search: row 2 of 3 in this batch"):
        tiny_con.sql("SELECT * FROM sqlml_search('docs', 'body', 'sport')").fetchall()


def test_python_api_invalid_unicode_and_kinds(tiny_model_dir: Path, poisoned: None) -> None:
    model = str(tiny_model_dir)
    with pytest.raises(RowFailedError, match=r"embed: row 2 of 3 \(text of 4 characters starting '\?abc'\) is not valid Unicode"):
        sqlml.embed(["ok", "\ud800abc", None], model=model)
    matrix = sqlml.embed(["ok", "\ud800abc", None, f"{POISON}!"], model=model, on_error="null")
    assert matrix.shape == (4, 32) and not np.isnan(matrix[0]).any() and np.isnan(matrix[1:]).all()
    assert sqlml.summarize(["A b. C d.", "\ud800", f"{POISON}."], n=1, model=model, on_error="null") == ["A b.", None, None]
    series = sqlml.classify(pl.Series("body", ["sport", f"{POISON}"]), ["sport", "politics"], embedding_model=model, output="polars", on_error="null")
    assert isinstance(series, pl.Series) and series.to_list()[1] is None and series.to_list()[0] is not None
    arrow = sqlml.top_k_sentences(pa.array(["x. y.", POISON]), "x", model=model, on_error="null")
    assert arrow[1] is None and arrow[0] is not None
    assert np.isnan(sqlml.relevance([POISON, "x"], "x", model=model, on_error="null")[0])
    with pytest.raises(InvalidArgumentError, match="on_error must be 'raise' or 'null'"):
        sqlml.embed(["x"], model=model, on_error="ignore")


def test_cli_on_error(tmp_path: Path, tiny_model_dir: Path, poisoned: None) -> None:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "body": ["fine text", f"{POISON} text", None]}), source)
    common = ["--column", "body", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", "-o", str(out)]
    result = CliRunner().invoke(main, ["embed", str(source), *common])
    assert result.exit_code == 1 and "embed: row 2 of 3 in this batch" in result.output and "--on-error null" in result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["embed", str(source), *common, "--on-error", "null"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert [v is None for v in table.column("embedding").to_pylist()] == [False, True, True]


def test_stats_lists_runtime_and_cache_counters(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.sql("SELECT embed('stats ' || i) FROM range(300) r(i)").fetchall()
    tiny_con.sql("SELECT embed('stats ' || i) FROM range(300) r(i)").fetchall()  # second time: from the cache
    rows = tiny_con.sql("SELECT component, metric, value FROM sqlml_stats()").fetchall()
    by = {(c, m): v for c, m, v in rows if c in ("runtime", "cache")}
    for metric in ("rows", "batches", "oom_splits", "failed_rounds"):
        assert ("runtime", metric) in by
    assert by[("cache", "hits")] >= 300 and by[("cache", "misses")] >= 300
    assert tiny_con.sql("SELECT value >= 600 FROM sqlml_stats() WHERE name = 'embed' AND metric = 'rows'").fetchall() == [(True,)]


def test_parquet_jobs_take_the_policy(tmp_path, tiny_model_dir, poisoned: None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": texts(10, {2, 4})}), source)  # row 7 is NULL text already
    sqlml.embed_parquet(source, tmp_path / "e.parquet", "body", model=str(tiny_model_dir), device="cpu", on_error="null")
    sqlml.summarize_parquet(source, tmp_path / "s.parquet", "body", n=1, model=str(tiny_model_dir), device="cpu", on_error="null")
    for name, column in (("e.parquet", "embedding"), ("s.parquet", "summary")):
        nulls = pq.read_table(tmp_path / name).column(column).is_null().to_pylist()
        assert [i for i, missing in enumerate(nulls) if missing] == [2, 4, 7]


# -- invalid UTF-8 in Arrow data: the row is named (bytes shown as U+FFFD) or NULLed, in every door ------
def invalid_utf8_strings(values: list[bytes | None]) -> pa.StringArray:
    """A ``pa.string()`` array holding ``values`` unchecked, as a reader that trusts its file hands it over."""
    offsets = np.cumsum([0, *(len(v or b"") for v in values)], dtype=np.int32)
    validity = pa.array([v is not None for v in values]).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(values), [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(v or b"" for v in values))])


BAD_BYTES = [b"fine text", b"\xff\xfe bad", None]
NOT_UTF8 = (
    r"embed: row 2 of 3 in this batch \(text of 6 bytes starting '\ufffd\ufffd bad'\) is not valid UTF-8 \(bytes that "
    r"do not decode are shown as \ufffd\); fix or filter that row, or pass on_error := 'null' \(Python on_error='null', "
    r"CLI --on-error null\) to get NULL for failing rows"
)


@pytest.mark.parametrize("kind", ["binary", "string"])
def test_python_api_invalid_utf8_names_the_row_or_nulls_it(tiny_model_dir: Path, kind: str) -> None:
    texts = pa.array(BAD_BYTES, pa.binary()) if kind == "binary" else invalid_utf8_strings(BAD_BYTES)
    before = failures_by_reason("embed").get("UnicodeDecodeError", 0)
    with pytest.raises(RowFailedError, match=NOT_UTF8):
        sqlml.embed(texts, model=str(tiny_model_dir))
    matrix = sqlml.embed(texts, model=str(tiny_model_dir), on_error="null")
    assert [bool(np.isnan(row).all()) for row in matrix] == [False, True, True]
    assert failures_by_reason("embed").get("UnicodeDecodeError", 0) == before + 1


def test_sql_invalid_utf8_in_a_registered_arrow_table(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.register("raw", pa.table({"id": [1, 2, 3], "x": invalid_utf8_strings(BAD_BYTES)}))
    with pytest.raises(duckdb.Error, match=NOT_UTF8):
        tiny_con.sql("SELECT embed(x) FROM raw").fetchall()
    rows = tiny_con.sql("SELECT id, sqlml.summarize(x, n := 1, on_error := 'null') FROM raw ORDER BY id").fetchall()
    assert rows == [(1, "fine text"), (2, None), (3, None)]


@pytest.mark.parametrize("kind", ["binary", "string"])
def test_cli_invalid_utf8_in_a_parquet_column(tmp_path: Path, tiny_model_dir: Path, kind: str) -> None:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    body = pa.array(BAD_BYTES, pa.binary()) if kind == "binary" else invalid_utf8_strings(BAD_BYTES)
    pq.write_table(pa.table({"id": [1, 2, 3], "body": body}), source)
    common = ["--column", "body", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", "-o", str(out)]
    result = CliRunner().invoke(main, ["embed", str(source), *common])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and not out.exists()
    assert result.output.startswith("Error: embed: row 2 of 3 in this batch (text of 6 bytes starting '\ufffd\ufffd bad') is not valid UTF-8")
    result = CliRunner().invoke(main, ["embed", str(source), *common, "--on-error", "null"])
    assert result.exit_code == 0, result.output
    assert [v is None for v in pq.read_table(out).column("embedding").to_pylist()] == [False, True, True]
