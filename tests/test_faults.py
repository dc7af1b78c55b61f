"""Faults: out-of-memory, a failing runtime worker, Ctrl-C and a killed CLI job — nothing lost, nothing hung."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import sqlml
from helpers import close
from sqlml.models.encoder import Encoder
from sqlml.sql import interrupts

QUERIES = [
    "SELECT id, embed(x) FROM t ORDER BY id",
    "SELECT id, sqlml.summarize(x, n := 1) FROM t ORDER BY id",
    "SELECT id, classify_scores(x, ['sport', 'politics']) FROM t ORDER BY id",
]


@pytest.fixture
def con(tiny_model_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A tiny-model connection without the embedding cache, so every query reaches the runtime."""
    connection = sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False)
    connection.execute("CREATE TABLE t AS SELECT i AS id, 'Row ' || i || ' is about sport. ' || repeat('word ', i % 13) || 'The end.' AS x FROM range(120) r(i)")
    yield connection
    connection.close()


def runtime_total(metric: str) -> int:
    return sum(s["value"] for s in sqlml.stats() if s["component"] == "runtime" and s["metric"] == metric)




def test_injected_cuda_oom_splits_batches_and_gives_identical_results(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [con.sql(q).fetchall() for q in QUERIES]
    real_forward = Encoder.forward

    def forward_that_fits_eight_rows(self: Encoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if len(ids) > 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, ids, mask)

    monkeypatch.setattr(Encoder, "forward", forward_that_fits_eight_rows)
    splits = runtime_total("oom_splits")
    for query, rows in zip(QUERIES, expected, strict=True):
        assert close(con.sql(query).fetchall(), rows), query
    assert runtime_total("oom_splits") > splits


def test_a_failing_worker_round_is_retried_per_row_and_the_runtime_lives(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = con.sql(QUERIES[0]).fetchall()
    real_forward = Encoder.forward
    failures: list[int] = []

    def forward_failing_once(self: Encoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if not failures:
            failures.append(len(ids))
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real_forward(self, ids, mask)

    monkeypatch.setattr(Encoder, "forward", forward_failing_once)
    assert close(con.sql(QUERIES[0]).fetchall(), expected)  # the failed round's rows were bisected and rerun
    assert failures


def test_a_persistent_worker_failure_raises_and_the_next_query_works(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Encoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    with monkeypatch.context() as patch:
        patch.setattr(Encoder, "forward", broken)
        start = time.perf_counter()
        with pytest.raises(duckdb.Error, match=r"embed: row 1 of \d+ in this batch \(text of .*\) failed: RuntimeError: device lost"):
            con.sql(QUERIES[0]).fetchall()
        assert time.perf_counter() - start < 30  # 'raise' stops at the first failing row, no full bisection
    assert len(con.sql(QUERIES[0]).fetchall()) == 120
    other = sqlml.cursor(con)
    assert len(other.sql(QUERIES[1]).fetchall()) == 120
    other.close()


LONG_QUERY = "SELECT count(embed('text number ' || i)) FROM range(2000000) r(i)"  # minutes on a CPU


def test_interrupt_stops_a_long_query_promptly(con: duckdb.DuckDBPyConnection) -> None:
    timer = threading.Timer(1.0, con.interrupt)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(duckdb.InterruptException):
        con.sql(LONG_QUERY).fetchall()
    timer.join()
    assert time.perf_counter() - start < 20
    assert len(con.sql(QUERIES[0]).fetchall()) == 120


@pytest.fixture
def python_sigint_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Python's default SIGINT handler for the test, so sqlml installs its own (a run under nohup starts with SIG_IGN)."""
    saved = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(interrupts, "_installed", False)
    yield
    signal.signal(signal.SIGINT, saved)


def test_ctrl_c_stops_a_long_query_and_leaves_the_connection_usable(python_sigint_handler: None, con: duckdb.DuckDBPyConnection) -> None:
    assert signal.getsignal(signal.SIGINT) is interrupts._on_sigint  # installed by sqlml.connect over the default
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    timer = threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(duckdb.InterruptException):
        con.sql(LONG_QUERY).fetchall()
    timer.join()
    assert time.perf_counter() - start < 20
    assert len(con.sql(QUERIES[1]).fetchall()) == 120
    with pytest.raises(KeyboardInterrupt):  # outside a query, Ctrl-C is the usual KeyboardInterrupt
        signal.pthread_kill(main, signal.SIGINT)
        time.sleep(5)


KILLABLE_CLI = """
import atexit, sys
import sqlml.jobs.parquet as jobs
from sqlml.jobs import column as column_ops
jobs.READ_BATCH_ROWS = 200
computed = [0]
real_call = column_ops.ColumnOp.__call__
def call(self, texts):
    computed[0] += len(texts)
    return real_call(self, texts)
column_ops.ColumnOp.__call__ = call
atexit.register(lambda: print("computed", computed[0], file=sys.stderr))
from sqlml.cli import main
main()
"""


def test_killed_cli_job_leaves_no_output_and_resume_skips_finished_parts(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = 8000
    texts = [f"document {i} " + "word " * (i % 30) for i in range(rows)]
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"id": list(range(rows)), "body": texts}), source)
    parts = tmp_path / ".out.parquet.parts"
    args = [sys.executable, "-c", KILLABLE_CLI, "embed", str(source), "--column", "body", "-o", str(out),
            "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    env = {**os.environ, "SQLML_CACHE": "0"}
    job = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(parts.glob("part-*.parquet"))) < 3 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.kill()  # SIGKILL: no cleanup code runs
    job.wait()
    kept = len(list(parts.glob("part-*.parquet")))
    assert 3 <= kept < rows // 200, "the job must be killed midway"
    assert not out.exists()
    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"computed {rows - kept * 200}" in resumed.stderr  # finished parts were not recomputed
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == list(range(rows))
    expected = sqlml.embed(texts, model=str(tiny_model_dir), device="cpu", cache=False)
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist(), dtype=np.float32), expected, atol=1e-5)
    assert not parts.exists()
