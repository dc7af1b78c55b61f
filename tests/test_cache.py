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
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.cli import main
from sqlml.engine.cache import cache_path, open_cache
from sqlml.engine.runtime import get_runtime

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
