"""The persistent embedding cache: hits, switches, bounds, corruption and crash recovery, CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.cli import main
from sqlml.engine.cache import EmbeddingCache, cache_path, open_cache
from sqlml.engine.runtime import get_runtime
from sqlml.errors import SqlmlWarning
from tests.helpers import close

TEXTS = [f"document number {i} about rates, elections and football" for i in range(40)]


def rows_embedded(model_dir: Path) -> int:
    return get_runtime(str(model_dir), "cpu").snapshot().rows


@pytest.fixture
def corpus(tiny_con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    tiny_con.execute("CREATE TABLE docs AS SELECT unnest(?::VARCHAR[]) AS body", [TEXTS])
    return tiny_con


def test_second_search_embeds_nothing(corpus: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    cache = open_cache()
    query = "SELECT body, score FROM sqlml_search('docs', 'body', 'football results', k := 5, mode := 'semantic')"
    before = rows_embedded(tiny_model_dir)
    first = corpus.sql(query).fetchall()
    assert rows_embedded(tiny_model_dir) - before == len(TEXTS) + 1  # corpus + query
    hits = cache.stats.hits
    second = corpus.sql(query).fetchall()
    assert rows_embedded(tiny_model_dir) - before == len(TEXTS) + 1  # nothing new went through the model
    assert cache.stats.hits - hits == len(TEXTS)
    assert second == first


def test_cached_vectors_equal_computed_ones(tiny_model_dir: Path) -> None:
    fresh = sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu", cache=False)
    sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu")
    before = rows_embedded(tiny_model_dir)
    cached = sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu")
    assert rows_embedded(tiny_model_dir) == before
    np.testing.assert_array_equal(cached, fresh)


def test_cache_can_be_switched_off(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_CACHE", "0")
    sqlml.embed(TEXTS[:3], model=str(tiny_model_dir), device="cpu")
    with sqlml.connect(model=str(tiny_model_dir), device="cpu") as con:
        con.sql("SELECT relevance('a text', 'a query')").fetchall()
    assert not cache_path().exists()
    monkeypatch.delenv("SQLML_CACHE")
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False) as con:
        con.sql("SELECT embed('another text')").fetchall()
    assert not cache_path().exists()


def test_model_fingerprint_separates_entries(tiny_model_dir: Path) -> None:
    sqlml.embed(TEXTS[:4], model=str(tiny_model_dir), device="cpu")
    info = sqlml.cache_info()
    encoder = get_runtime(str(tiny_model_dir), "cpu").encoder
    assert info["models"] == {f"{encoder.fingerprint}:float32:{encoder.max_seq_length}": 4}
    assert info["entries"] == 4 and info["enabled"] is True and info["bytes_used"] > 0


def test_corrupt_cache_is_rebuilt(corpus: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    cache = open_cache()
    expected = corpus.sql("SELECT embed(body) FROM docs").fetchall()
    # another program scribbles over the file: every byte, header included
    for path in cache._files():
        if path.exists():
            path.write_bytes(b"not a database at all " * 200)
    resets = cache.stats.resets
    assert corpus.sql("SELECT embed(body) FROM docs").fetchall() == expected  # recomputed, not failed
    assert cache.stats.resets == resets + 1
    before = rows_embedded(tiny_model_dir)
    assert corpus.sql("SELECT embed(body) FROM docs").fetchall() == expected
    assert rows_embedded(tiny_model_dir) == before  # the rebuilt cache serves hits again
    with sqlite3.connect(cache.path) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_cache_is_intact_after_a_writer_is_killed(tiny_model_dir: Path) -> None:
    # a process writing as fast as it can is SIGKILLed mid-write; the file must stay readable and consistent
    script = textwrap.dedent(
        """
        import numpy as np, sys
        from sqlml.engine.cache import open_cache
        class Model:
            fingerprint, dtype, max_seq_length = "fake", "float32", 8
        cache, model = open_cache(), Model()
        for round in range(100000):
            texts = [f"{round}-{i}" for i in range(500)]
            cache.store(model, texts, np.full((500, 16), round, dtype=np.float32))
            if round == 2:
                print("writing", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with sqlite3.connect(cache_path()) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (entries,) = con.execute("SELECT count(*) FROM embeddings").fetchone()
    assert entries >= 1500 and entries % 500 == 0  # whole transactions only


def test_size_is_bounded(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_CACHE_MAX_MB", "1")
    cache = open_cache()

    class Model:
        fingerprint, dtype, max_seq_length = "fake", "float32", 8

    for round in range(6):  # 6 × 1000 × 1 KiB vectors ≈ 6 MiB written into a 1 MiB cache
        cache.store(Model(), [f"{round}-{i}" for i in range(1000)], np.zeros((1000, 256), dtype=np.float32))
    info = cache.info()
    assert info.bytes_used <= 1.3 * 2**20 and cache.stats.evicted > 0
    found, _ = cache.lookup(Model(), ["5-999", "0-0"], 256)
    assert found.tolist() == [True, False]  # newest kept, oldest evicted


def test_cache_cli_info_and_clear(tiny_model_dir: Path) -> None:
    sqlml.embed(TEXTS[:5], model=str(tiny_model_dir), device="cpu")
    runner = CliRunner()
    info = runner.invoke(main, ["cache", "info", "--format", "json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output)["entries"] == 5
    table = runner.invoke(main, ["cache", "info"])
    assert "entries:  5" in table.output and str(cache_path()) in table.output
    cleared = runner.invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0 and cleared.output.strip() == "removed 5 cached embeddings"
    assert sqlml.cache_info()["entries"] == 0
    assert "sqlml cache info" in runner.invoke(main, ["cache", "--help"]).output


def test_many_duckdb_threads_share_the_cache(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    # 3 chunks of up to 2048 rows reach the UDF from several DuckDB threads, writing the cache at once
    tiny_con.execute("SET threads = 4")
    tiny_con.execute("CREATE TABLE many AS SELECT 'text ' || i AS body FROM range(5000) t(i)")
    query = "SELECT list(relevance(body, 'text 7') ORDER BY body) FROM many"
    first = tiny_con.sql(query).fetchall()
    before = rows_embedded(tiny_model_dir)
    assert tiny_con.sql(query).fetchall() == first
    assert rows_embedded(tiny_model_dir) == before
    assert open_cache().stats.errors == 0


# -- a cache that cannot be used is turned off: one warning, one counted error, every row still embedded --


def _home() -> Path:
    return Path(os.environ["SQLML_HOME"])


def _home_is_a_file() -> None:
    _home().write_text("not a folder")


def _cache_folder_is_a_file() -> None:
    _home().mkdir(parents=True)
    (_home() / "cache").write_text("not a folder")


def _database_is_a_folder() -> None:
    cache_path().mkdir(parents=True)


def _home_is_read_only() -> None:
    _home().mkdir(parents=True)
    _home().chmod(0o500)


def _corrupt_file_in_a_read_only_folder() -> None:
    cache_path().parent.mkdir(parents=True)
    cache_path().write_bytes(b"not a database at all " * 200)
    cache_path().parent.chmod(0o500)


def _needs_permissions(setup: object) -> object:
    # root ignores file modes, so a chmod cannot make a folder unwritable for it
    return pytest.param(setup, marks=pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions"))


UNUSABLE_PLACES = [
    _home_is_a_file,
    _cache_folder_is_a_file,
    _database_is_a_folder,
    _needs_permissions(_home_is_read_only),
    _needs_permissions(_corrupt_file_in_a_read_only_folder),
]


@pytest.fixture
def restore_modes() -> Iterator[None]:
    """Folders a test made read-only are made writable again, so the temporary tree can be removed."""
    yield
    for folder in (_home(), cache_path().parent):
        if folder.is_dir():
            folder.chmod(0o700)


def cache_errors(con: duckdb.DuckDBPyConnection) -> int:
    query = "SELECT sum(value) FROM sqlml_stats() WHERE component = 'cache' AND metric = 'errors' AND name = ?"
    return int(con.execute(query, [str(cache_path())]).fetchone()[0] or 0)


@pytest.mark.parametrize("make_unusable", UNUSABLE_PLACES)
def test_unusable_cache_place_leaves_sql_rows_intact(make_unusable: Callable[[], None], tiny_model_dir: Path, restore_modes: None) -> None:
    query = "SELECT embed(body, on_error := '{}') FROM docs ORDER BY rowid"
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False) as con:
        con.execute("CREATE TABLE docs AS SELECT unnest(?::VARCHAR[]) AS body", [TEXTS])
        expected = con.sql(query.format("raise")).fetchall()
    make_unusable()
    with sqlml.connect(model=str(tiny_model_dir), device="cpu") as con, pytest.warns(SqlmlWarning) as caught:
        con.execute("CREATE TABLE docs AS SELECT unnest(?::VARCHAR[]) AS body", [TEXTS])
        for on_error in ("raise", "null", "raise"):
            assert close(con.sql(query.format(on_error)).fetchall(), expected)
        assert cache_errors(con) >= 1
    assert len(caught) == 1
    assert "the embedding cache" in str(caught[0].message) and "SQLML_CACHE=0" in str(caught[0].message)


def test_unusable_cache_warns_once_across_duckdb_threads(tiny_con: duckdb.DuckDBPyConnection) -> None:
    # 3 chunks reach the UDF from several DuckDB threads at once, each finding the cache unusable
    _home_is_a_file()
    tiny_con.execute("SET threads = 4")
    tiny_con.execute("CREATE TABLE many AS SELECT 'text ' || i AS body FROM range(4100) t(i)")
    with pytest.warns(SqlmlWarning) as caught:
        nulls = tiny_con.sql("SELECT count(*) FILTER (WHERE embed(body, on_error := 'null') IS NULL) FROM many").fetchall()
    assert nulls == [(0,)] and len(caught) == 1 and cache_errors(tiny_con) >= 1


def _cache_counter(metric: str) -> int:
    return sum(r["value"] for r in sqlml.stats() if r["component"] == "cache" and r["name"] == str(cache_path()) and r["metric"] == metric)


@pytest.mark.parametrize("make_unusable", UNUSABLE_PLACES)
def test_unusable_cache_place_leaves_python_rows_intact(
    make_unusable: Callable[[], None], tiny_model_dir: Path, restore_modes: None
) -> None:
    expected = sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu", cache=False)
    make_unusable()
    with pytest.warns(SqlmlWarning, match="the embedding cache") as caught:
        for _ in range(2):
            np.testing.assert_array_equal(sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu"), expected)
    assert len(caught) == 1
    assert _cache_counter("errors") >= 1


def _failing(error: Exception) -> Callable[..., object]:
    def fail(*_args: object) -> object:
        raise error

    return fail


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("_select", sqlite3.OperationalError("disk I/O error")),
        ("_select", sqlite3.DatabaseError("database disk image is malformed")),
        ("_evict", sqlite3.OperationalError("database or disk is full")),
        ("_evict", PermissionError(13, "Permission denied")),
    ],
    ids=["read-io", "read-malformed", "write-full", "write-permission"],
)
def test_cache_fault_after_opening_turns_it_off(
    method: str, error: Exception, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu", cache=False)
    sqlml.embed(TEXTS[:5], model=str(tiny_model_dir), device="cpu")  # the cache works at first
    monkeypatch.setattr(EmbeddingCache, method, _failing(error))
    with sqlml.connect(model=str(tiny_model_dir), device="cpu") as con, pytest.warns(SqlmlWarning) as caught:
        con.execute("CREATE TABLE docs AS SELECT unnest(?::VARCHAR[]) AS body", [TEXTS])
        vectors = con.sql("SELECT embed(body, on_error := 'null') FROM docs ORDER BY rowid").fetchall()
        np.testing.assert_array_equal(sqlml.embed(TEXTS, model=str(tiny_model_dir), device="cpu"), expected)
        assert cache_errors(con) >= 1
    assert close(vectors, [(row.tolist(),) for row in expected])
    assert len(caught) == 1 and type(error).__name__ in str(caught[0].message)


# -- the size bound holds for the files on disk (database, write-ahead log and its index together) --


class FakeModel:
    fingerprint, dtype, max_seq_length = "fake", "float32", 8


def disk_bytes() -> int:
    return sum(p.stat().st_size for p in open_cache()._files() if p.exists())


@pytest.mark.parametrize("dimension", [32, 768])
def test_files_on_disk_stay_within_the_bound(dimension: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_CACHE_MAX_MB", "1")
    cache, rng = open_cache(), np.random.default_rng(0)
    rounds = 8 if dimension == 32 else 2  # ≈ 4 MiB (32-d) and ≈ 12 MiB (768-d) written into a 1 MiB bound
    for round in range(rounds):  # 2048 rows a call, as DuckDB hands them to embed()
        vectors = rng.standard_normal((2048, dimension), dtype=np.float32)
        cache.store(FakeModel(), [f"{round}-{i}" for i in range(2048)], vectors)
        assert disk_bytes() <= 2**20
    assert cache.stats.evicted > 0 and cache.stats.errors == 0
    found, got = cache.lookup(FakeModel(), [f"{rounds - 1}-2047", "0-0"], dimension)
    assert found.tolist() == [True, False]  # newest kept, oldest evicted
    np.testing.assert_array_equal(got[0], vectors[-1])


def test_bound_shrinks_a_file_written_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # a file whose free pages were never given back (or a bound lowered later) is shrunk on the next write
    cache_path().parent.mkdir(parents=True)
    with sqlite3.connect(cache_path()) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(
            "CREATE TABLE embeddings (id INTEGER PRIMARY KEY, model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL);"
            "CREATE UNIQUE INDEX embeddings_model_key ON embeddings (model, key);"
        )
        con.executemany(
            "INSERT INTO embeddings (model, key, vector) VALUES ('old', ?, zeroblob(1024))", [(i.to_bytes(16, "big"),) for i in range(3000)]
        )
    monkeypatch.setenv("SQLML_CACHE_MAX_MB", "1")
    cache = open_cache()
    cache.store(FakeModel(), ["new"], np.ones((1, 256), dtype=np.float32))
    assert disk_bytes() <= 2**20 and cache.stats.errors == 0
    assert cache.lookup(FakeModel(), ["new"], 256)[0].tolist() == [True]


# -- the cache commands tell an unusable cache as it is; warnings reach a CLI user as one line each ---------
def warning_lines(output: str) -> list[str]:
    """The lines of a command's output about the cache being off, checked: each is one ``Warning:`` line, no Python source."""
    assert "warnings.warn" not in output and "SqlmlWarning" not in output, output
    return [line for line in output.splitlines() if "is off for the rest of this process" in line and line.startswith("Warning: ")]


@pytest.mark.parametrize("make_unusable", [_home_is_a_file, _cache_folder_is_a_file, _database_is_a_folder])
def test_cache_info_names_why_an_unusable_cache_is_off(make_unusable: Callable[[], None]) -> None:
    make_unusable()
    runner = CliRunner()
    as_json = runner.invoke(main, ["cache", "info", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    reason = open_cache().disabled_because
    assert reason is not None and json.loads(as_json.stdout)["enabled"] is False
    assert json.loads(as_json.stdout)["disabled_because"] == reason
    table = runner.invoke(main, ["cache", "info"])
    assert table.exit_code == 0 and f"enabled:  no ({reason})" in table.stdout.splitlines()
    assert len(warning_lines(as_json.output)) + len(warning_lines(table.output)) == 1  # the cache warns once per process


def test_cache_info_says_when_the_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_CACHE", "0")
    result = CliRunner().invoke(main, ["cache", "info"])
    assert result.exit_code == 0 and "enabled:  no (SQLML_CACHE=0)" in result.output.splitlines()
    assert not cache_path().exists()


def test_cache_clear_of_an_unusable_cache_fails_with_one_line() -> None:
    _database_is_a_folder()
    result = CliRunner().invoke(main, ["cache", "clear"])
    assert result.exit_code == 1
    assert result.output == (f"Error: cannot clear the embedding cache {str(cache_path())!r} ({open_cache().disabled_because}); "
                             "point SQLML_HOME at a folder sqlml may write, or remove the file by hand\n")


@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o077, 0o600)])
def test_the_cache_file_mode_follows_the_umask(umask: int, mode: int, tiny_model_dir: Path) -> None:
    previous = os.umask(umask)
    try:
        sqlml.embed(TEXTS[:2], model=str(tiny_model_dir), device="cpu")
    finally:
        os.umask(previous)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in open_cache()._files() if p.exists()} == {
        p.name: oct(mode) for p in open_cache()._files() if p.exists()}
    assert cache_path().exists()
