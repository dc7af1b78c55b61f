"""Time and memory of ``sqlml_search`` over many rows, and the cost of the embedding cache.

Synthetic text (12-word sentences drawn from a 5,000-word vocabulary with a fixed seed) and a tiny
random model (2 layers, 32-d, the default model's tokenizer) so that a million rows fit in minutes on
a 2-core CPU: the numbers measure sqlml's own work (cache, BM25, ranking, DuckDB plumbing), not a
real model's forward pass, which is reported separately by ``eval_relevance.py``.

    python benchmarks/bench_search_scale.py --rows 100000
    python benchmarks/bench_search_scale.py --rows 1000000 --prefill

``--prefill`` writes random unit vectors for every text straight into the embedding cache instead of
running the model (the tiny model does ~1,000 rows/s on this shared 2-core machine, so a million
rows would take a quarter of an hour per pass); the timed passes then measure the warm-cache path.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support


def synthetic_texts(rows: int, seed: int = 0) -> pa.StringArray:
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    words = vocabulary[rng.zipf(1.3, size=(rows, 12)) % len(vocabulary)]
    return pa.array([" ".join(row) for row in words], pa.string())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--prefill", action="store_true", help="fill the cache with random vectors instead of embedding")
    parser.add_argument("--dimension", type=int, default=32, help="width of the tiny model (384 = all-MiniLM-L6-v2's)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sqlml-bench-"))
    os.environ["SQLML_HOME"] = str(work / "home")
    os.environ.setdefault("SQLML_CACHE_MAX_MB", "8192")  # a million 384-d vectors take ~2.1 GiB
    import sqlml
    from sqlml.engine.cache import open_cache
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.relevance.scores import search_array
    from tests.support.random_model import build_random_model

    model = str(
        build_random_model(
            work / "tiny", hidden_size=args.dimension, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * args.dimension
        )
    )
    texts = synthetic_texts(args.rows)
    runtime = get_runtime(model, "cpu")
    print(f"{args.rows:,} rows, {sum(len(t) for t in texts.to_pylist()) / args.rows:.0f} chars each; tiny {args.dimension}-d model on CPU")

    # torch's first pass over a set of batch shapes is 3x slower than the next ones (CPU kernel
    # selection; measured: 140 s then 41 s for 100k rows), so one untimed pass over the same texts
    # comes first; it writes nothing to the cache.
    if not args.prefill:
        search_array(texts, "warm up", 10, "semantic", runtime, None)

    # 1. Python-level search, timed (the cache-off pass writes nothing, so the next pass is cold).
    cases = [
        ("semantic", "cache off", None),
        ("semantic", "cold cache", open_cache()),
        ("semantic", "warm cache", open_cache()),
        ("lexical", "no model", None),
        ("hybrid", "warm cache", open_cache()),
    ]
    if args.prefill:
        started = time.perf_counter()
        values = texts.to_pylist()
        rng = np.random.default_rng(0)
        for start in range(0, len(values), 50_000):
            chunk = rng.standard_normal((min(50_000, len(values) - start), runtime.encoder.dimension)).astype(np.float32)
            open_cache().store(runtime.encoder, values[start : start + 50_000], chunk / np.linalg.norm(chunk, axis=1, keepdims=True))
        print(f"prefilled the cache with {len(values):,} random vectors in {time.perf_counter() - started:.1f} s")
        del values
        cases = [case for case in cases if case[1] not in ("cache off", "cold cache")]
    print("\n| search_array (Python) | seconds | rows through model |\n|---|---:|---:|")
    for mode, label, cache in cases:
        before = runtime.snapshot().rows
        started = time.perf_counter()
        search_array(texts, "w1 w2 w3", 10, mode, runtime, cache)
        print(f"| {mode}, {label} | {time.perf_counter() - started:.1f} | {runtime.snapshot().rows - before:,} |")

    # tracemalloc sees numpy's allocations: the peak shows that no n×d matrix is ever held. It slows
    # Python down a lot, so this pass is not timed.
    matrix = args.rows * runtime.encoder.dimension * 4 / 2**20
    print(f"\n| search_array (Python, warm cache) | peak traced MiB | one n×d float32 matrix: {matrix:.0f} MiB |\n|---|---:|---|")
    for mode in ("semantic", "lexical", "hybrid"):
        tracemalloc.start()
        search_array(texts, "w1 w2 w3", 10, mode, runtime, open_cache())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {mode} | {peak / 2**20:.0f} | |")

    # 2. The SQL table macro end to end (warm cache), from a Parquet file
    import pyarrow.parquet as pq

    path = work / "corpus.parquet"
    pq.write_table(pa.table({"id": np.arange(args.rows), "body": texts}), path)
    del texts
    print("\n| sqlml_search (SQL, warm cache) | seconds |\n|---|---:|")
    with sqlml.connect(model=model, device="cpu") as con:
        for mode in ("semantic", "lexical", "hybrid"):
            started = time.perf_counter()
            con.sql(f"SELECT id, score FROM sqlml_search('{path}', 'body', 'w1 w2 w3', k := 10, mode := '{mode}')").fetchall()
            print(f"| {mode} | {time.perf_counter() - started:.1f} |")
    info = open_cache().info()
    print(f"\ncache: {info.entries:,} entries, {info.bytes_used / 2**20:.0f} MiB; process peak RSS {peak_rss_mib():.0f} MiB")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
