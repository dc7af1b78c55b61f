"""Process lifetime of the SQL door: connections that share one database, closed while others query."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import sqlml

# Each round closes the registering connection (or drops it unclosed) while another still reaches the
# UDFs, then queries and churns the allocator: a freed callable shows up as a crash (exit 139) or a
# "'DuckDBPyRelation' object is not callable" error.
OUTLIVE_SCRIPT = """
import sys
import duckdb, sqlml
model, folder = sys.argv[1], sys.argv[2]
for round in range(20):
    path = f"{folder}/round{round}.duckdb"
    first = sqlml.connect(path, model=model, device="cpu", cache=False)
    plain = duckdb.connect(path)
    assert plain.sql("SELECT len(sqlml.embed('x'))").fetchall() == [(32,)]
    orphan = sqlml.cursor(sqlml.connect(model=model, device="cpu", cache=False))
    first.close()
    junk = [plain.sql("SELECT 1") for _ in range(50)]
    for query in ("SELECT len(sqlml.embed('x'))", "SELECT count(sqlml.embed('row ' || i)) FROM range(20) r(i)"):
        assert plain.sql(query).fetchall() == orphan.sql(query).fetchall(), query
    plain.close()
    orphan.close()
print("ok")
"""


def test_udfs_outlive_the_connection_that_registered_them(tmp_path: Path, tiny_model_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-c", OUTLIVE_SCRIPT, str(tiny_model_dir), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "ok"


def test_a_second_connect_to_one_database_file_shares_its_functions(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = str(tmp_path / "shared.duckdb")
    first = sqlml.connect(path, model=str(tiny_model_dir), device="cpu")
    second = sqlml.connect(path, model=str(tiny_model_dir), device="cpu")
    try:
        for con in (first, second, first):
            assert con.sql("SELECT len(embed('x')), len(sqlml.embed('y'))").fetchall() == [(32, 32)]
        second.close()
        assert first.sql("SELECT len(embed('x'))").fetchall() == [(32,)]
    finally:
        first.close()


def test_a_plain_connection_to_a_registered_database_can_be_registered(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = str(tmp_path / "shared.duckdb")
    first = sqlml.connect(path, model=str(tiny_model_dir), device="cpu")
    plain = sqlml.register(duckdb.connect(path), model=str(tiny_model_dir), device="cpu")
    try:
        assert plain.sql("SELECT len(embed('x'))").fetchall() == first.sql("SELECT len(embed('x'))").fetchall() == [(32,)]
    finally:
        plain.close()
        first.close()


def test_a_second_connect_with_other_settings_names_the_safe_fixes(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = str(tmp_path / "shared.duckdb")
    first = sqlml.connect(path, model=str(tiny_model_dir), device="cpu")
    try:
        with pytest.raises(sqlml.SqlmlError, match=(
            r"^sqlml is already registered on this database \(another connection in this process\) with "
            r"device='cpu' \(this call: None\); DuckDB shares one set of functions between all connections of "
            r"a database: connect with the same settings, query through sqlml.cursor\(connection\) of the open "
            r"one, or close every connection to the database first$"
        )):
            sqlml.connect(path, model=str(tiny_model_dir))
        assert first.sql("SELECT len(embed('x'))").fetchall() == [(32,)]
    finally:
        first.close()


def test_a_user_database_named_sqlml_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'mine.duckdb'}' AS sqlml")
    try:
        with pytest.raises(sqlml.SqlmlError, match=r"a database named 'sqlml' that sqlml did not create is attached .* DETACH sqlml"):
            sqlml.register(con, model=str(tiny_model_dir), device="cpu")
    finally:
        con.close()
