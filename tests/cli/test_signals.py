"""Ctrl-C on a CLI column job: exit code 130 and one line on stderr, never a C++ abort (subprocess tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlml

REPO = Path(sqlml.__file__).resolve().parents[1]
INTERRUPTED = "Interrupted; rerun with --resume to continue from the saved batches"
# Small read batches: a part is saved every few hundred rows, so the test can interrupt mid-job quickly
# while the runtime worker is still inside a model forward pass.
CLI = "import sqlml.jobs.parquet as jobs\njobs.READ_BATCH_ROWS = 256\nfrom sqlml.cli import main\nmain()\n"


def default_sigint() -> None:
    """The child gets Python's usual Ctrl-C behaviour even if the test runner ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = 20_000
    path = tmp_path_factory.mktemp("signals") / "in.parquet"
    texts = [f"Document {i} is about sport. " + "word " * (i % 30) + "The end. Another sentence here." for i in range(rows)]
    pq.write_table(pa.table({"id": list(range(rows)), "body": texts}), path)
    return path


@pytest.mark.slow  # a fresh process per attempt: ~5-20 s each
@pytest.mark.parametrize("attempt", range(3))  # the abort came in ~4 of 5 runs before the fix
@pytest.mark.parametrize("command", ["embed", "summarize"])
def test_ctrl_c_on_a_column_job_exits_130_with_one_line(
    tmp_path: Path, tiny_model_dir: Path, long_input: Path, command: str, attempt: int
) -> None:
    out = tmp_path / "out.parquet"
    parts = tmp_path / ".out.parquet.parts"
    args = [sys.executable, "-c", CLI, command, str(long_input), "--column", "body", "-o", str(out),
            "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    env = {**os.environ, "SQLML_CACHE": "0", "PYTHONPATH": str(REPO)}
    job = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05 * attempt)  # vary where the signal lands: tokenizing, waiting, writing a part
    job.send_signal(signal.SIGINT)
    stdout, stderr = job.communicate(timeout=120)
    assert "terminate called" not in stderr
    assert (job.returncode, stderr.strip()) == (130, INTERRUPTED)
    assert stdout == "" and not out.exists()
