from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sqlml


def test_embed_returns_fixed_size_array(tiny_con: duckdb.DuckDBPyConnection) -> None:
    assert tiny_con.sql("SELECT typeof(embed('hello'))").fetchall() == [("FLOAT[32]",)]


def test_default_connection_returns_float_384(default_con: duckdb.DuckDBPyConnection) -> None:
    (vector, kind), = default_con.sql("SELECT embed('hello world'), typeof(embed('x'))").fetchall()
    assert kind == "FLOAT[384]" and len(vector) == 384


def test_null_in_null_out_and_rows_kept(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql(
        "SELECT t, embed(t) IS NULL FROM (VALUES ('a'), (NULL), (''), ('   '), (NULL)) v(t)"
    ).fetchall()
    assert [r[1] for r in rows] == [False, True, False, False, True]


def test_sql_equals_python_api_across_10000_rows(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    texts = [f"row {i} " + "x" * (i % 50) for i in range(10_000)]
    tiny_con.execute("CREATE TABLE t AS SELECT i, 'row ' || i || ' ' || repeat('x', i % 50) AS s FROM range(10000) r(i)")
    rows = tiny_con.sql("SELECT i, embed(s) FROM t ORDER BY i").fetchall()
    got = np.array([r[1] for r in rows], dtype=np.float32)
    assert [r[0] for r in rows] == list(range(10_000))
    np.testing.assert_allclose(got, sqlml.embed(texts, model=str(tiny_model_dir), device="cpu"), atol=1e-5)


def test_cosine_with_duckdb_array_functions(tiny_con: duckdb.DuckDBPyConnection) -> None:
    (same, other), = tiny_con.sql(
        "SELECT array_cosine_similarity(embed('cat'), embed('cat')), array_cosine_similarity(embed('cat'), embed('tax law'))"
    ).fetchall()
    assert same == pytest.approx(1.0, abs=1e-5) and other < 1.0


def test_dot_call_and_qualified_forms(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql("SELECT 'x'.embed() = sqlml.embed('x'), embed('x') = sqlml.main.embed('x')").fetchall()
    assert rows == [(True, True)]


def test_eight_threads_get_identical_results(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.execute("CREATE TABLE t AS SELECT i, 'text ' || (i * 7919 % 1000) AS s FROM range(3000) r(i)")
    query = "SELECT i, embed(s) FROM t ORDER BY i"
    expected = tiny_con.sql(query).fetchall()

    def run(_: int) -> list[tuple]:
        cur = sqlml.cursor(tiny_con)
        try:
            return cur.sql(query).fetchall()
        finally:
            cur.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    assert all(r == expected for r in results)


def test_embed_list_works_for_any_width(tiny_con: duckdb.DuckDBPyConnection) -> None:
    assert tiny_con.sql("SELECT len(embed_list('x')), embed_list(NULL)").fetchall() == [(32, None)]


def test_model_of_another_width_is_refused_with_the_fix(tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match=r"embed: model 'default' gives 384-d vectors but this connection's embed\(\) returns FLOAT\[32\].*use embed_list"):
        tiny_con.sql("SELECT embed('x', model := 'default')").fetchall()


def test_unknown_model_in_sql_names_the_fix(tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match=r"model 'nope' not found; known models: 'default'"):
        tiny_con.sql("SELECT embed('x', model := 'nope')").fetchall()


def test_models_table(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.sql("SELECT embed('load it')").fetchall()
    rows = tiny_con.sql("SELECT name, dimension, device, loaded FROM sqlml_models() WHERE loaded").fetchall()
    assert any(dim == 32 and device == "cpu" for _, dim, device, _ in rows)


def test_register_on_an_existing_file_database_persists_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = str(tmp_path / "user.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE notes AS SELECT 'hello' AS body")
    sqlml.register(con, model=str(tiny_model_dir), device="cpu")
    assert con.sql("SELECT len(embed(body)) FROM notes").fetchall() == [(32,)]
    con.close()
    reopened = duckdb.connect(path)
    try:
        macros = reopened.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'embed'").fetchall()
        assert macros == [(0,)]
        assert reopened.sql("SELECT * FROM notes").fetchall() == [("hello",)]
    finally:
        reopened.close()


def test_registering_twice_is_a_clear_error(tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(sqlml.SqlmlError, match=r"^sqlml is already registered on this connection; use it as it is \(its settings cannot change\)$"):
        sqlml.register(tiny_con)


def test_search_path_keeps_user_tables_first(tiny_con: duckdb.DuckDBPyConnection) -> None:
    tiny_con.execute("CREATE TABLE docs AS SELECT 1 AS id")
    assert tiny_con.sql("SELECT id FROM docs").fetchall() == [(1,)]


def test_results_convert_to_polars(tiny_con: duckdb.DuckDBPyConnection) -> None:
    import polars as pl

    frame = tiny_con.sql("SELECT 1 AS id, embed('x') AS e").pl()
    assert frame.schema["e"] == pl.Array(pl.Float32, 32)


def test_text_past_max_sequence_length_is_truncated(tiny_con: duckdb.DuckDBPyConnection) -> None:
    long = "word " * 600  # ~600 tokens, past the 256-token limit
    (same,), = tiny_con.execute("SELECT embed(?) = embed(? || ' a different ending')", [long, long]).fetchall()
    assert same


def test_read_only_database_connects(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = str(tmp_path / "ro.duckdb")
    setup = duckdb.connect(path)
    setup.execute("CREATE TABLE notes AS SELECT 'hello' AS body")
    setup.close()
    con = sqlml.connect(path, read_only=True, model=str(tiny_model_dir), device="cpu")
    try:
        assert con.sql("SELECT len(embed(body)) FROM notes").fetchall() == [(32,)]
    finally:
        con.close()
