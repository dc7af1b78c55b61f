"""Load: 16 threads of mixed queries on cursors of one connection give single-threaded results, without deadlock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import sqlml
from helpers import close

THREADS = 16
SECONDS = 6.0
QUERIES = [
    "SELECT id, embed(x) FROM t ORDER BY id",
    "SELECT id, sqlml.summarize(x, n := 1) FROM t ORDER BY id",
    "SELECT id, classify(x, ['sport', 'politics', 'science']) FROM t ORDER BY id",
    "SELECT id, relevance(x, 'election results') FROM t ORDER BY id",
    "SELECT id, top_k_sentences(x, 'the match', k := 2) FROM t ORDER BY id",
    "SELECT id, classify_scores(x, ['sport', 'politics'], on_error := 'null') FROM t ORDER BY id",
]




@pytest.mark.timeout(180)
def test_sixteen_threads_of_mixed_queries(tiny_model_dir: Path) -> None:
    con = sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False)
    con.execute(
        "CREATE TABLE t AS SELECT i AS id, 'Item ' || i || '. The match ended ' || (i % 5) || '-1. '"
        " || repeat('Voters went to the polls. ', i % 4) || 'Scientists observed a comet.' AS x FROM range(60) r(i)"
    )
    expected = [con.sql(q).fetchall() for q in QUERIES]
    deadline = time.monotonic() + SECONDS
    counts = [0] * THREADS
    errors: list[str] = []

    def worker(index: int) -> None:
        cursor = sqlml.cursor(con)
        try:
            step = index
            while time.monotonic() < deadline:
                query = step % len(QUERIES)
                if not close(cursor.sql(QUERIES[query]).fetchall(), expected[query]):
                    errors.append(f"thread {index}: wrong result for {QUERIES[query]}")
                counts[index] += 1
                step += 1
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(f"thread {index}: {type(exc).__name__}: {exc}")
        finally:
            cursor.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert not any(thread.is_alive() for thread in threads), "deadlock: a thread did not finish"
    assert errors == []
    assert all(n >= 1 for n in counts) and sum(counts) >= THREADS
    assert con.sql("SELECT count(*) FROM t").fetchall() == [(60,)]
    con.close()
