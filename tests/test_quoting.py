"""SQL that sqlml builds itself quotes or parameterises every name and path: quotes in them change nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.cli import main
from sqlml.cli.demo import demo_queries
from sqlml.resources import sample_articles_path

NASTY = "it's \"odd\"; DROP TABLE t; --"


def test_search_over_a_table_and_column_with_quotes(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.execute('CREATE TABLE "it\'s ""odd""" ("bo\'dy ""x""" VARCHAR, id INTEGER)')
    tiny_con.execute('INSERT INTO "it\'s ""odd""" VALUES (\'sport news\', 1), (\'other text\', 2)')
    rows = tiny_con.execute(
        "SELECT id, rank FROM sqlml_search(?, ?, ?, k := 2, mode := 'lexical')", ['"it\'s ""odd"""', "bo'dy \"x\"", "sport"]
    ).fetchall()
    assert rows == [(1, 1)]


def test_cli_search_with_quotes_in_path_column_and_query(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "it's"
    folder.mkdir()
    source = folder / "da'ta.parquet"
    pq.write_table(pa.table({"id": [1, 2], "te'xt": ["central bank rates", NASTY]}), source)
    result = CliRunner().invoke(
        main, ["search", str(source), NASTY, "--column", "te'xt", "-k", "2", "--mode", "lexical", "-f", "jsonl",
               "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert '"id":2' in result.output.replace(" ", "")  # the injection text was searched for, as text


def test_cli_query_output_path_with_quotes(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "o'ut \"1\".parquet"
    result = CliRunner().invoke(main, ["query", "SELECT 42 AS answer", "-f", "parquet", "-o", str(out), "--model", str(tiny_model_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("answer").to_pylist() == [42]


def test_model_names_with_quotes_are_values_not_sql(tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match=r"model \"it's\" not found"):
        tiny_con.execute("SELECT embed_list('x', model := ?)", ["it's"]).fetchall()
    assert tiny_con.sql("SELECT count(*) FROM sqlml_models()").fetchall()[0][0] >= 1


def test_demo_queries_quote_the_articles_path(tmp_path: Path, tiny_con: duckdb.DuckDBPyConnection) -> None:
    copy = tmp_path / "o'brien \"articles\".parquet"
    copy.write_bytes(sample_articles_path().read_bytes())
    for _, sql in demo_queries(copy)[:2]:
        assert tiny_con.sql(sql).fetchall()


def test_database_file_named_with_quotes_keeps_its_search_path(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = tmp_path / "we'ird \"name\".duckdb"
    with sqlml.connect(str(path), model=str(tiny_model_dir), device="cpu") as con:
        con.execute("CREATE TABLE mine AS SELECT 'a' AS x")
        assert con.sql("SELECT len(embed(x)) FROM mine").fetchall() == [(32,)]
        cursor = sqlml.cursor(con)
        assert cursor.sql("SELECT len(embed(x)) FROM mine").fetchall() == [(32,)]
        cursor.close()


def test_no_sql_function_can_switch_on_remote_code() -> None:
    root = Path(__file__).resolve().parents[1]
    for path in (root / "udfs").glob("*.sql"):
        assert "trust_remote_code" not in path.read_text(encoding="utf-8"), path.name
