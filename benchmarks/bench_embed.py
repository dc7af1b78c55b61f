"""Embedding throughput, side by side in one process on one device (prints JSON, then a table).

Peers, on the same texts:
  st          SentenceTransformer.encode(list) — what a user writes by hand; best of the batch sizes given
  naive_udf   a DuckDB Arrow UDF that calls encode on each 2048-row chunk
  sqlml       SELECT embed(s) FROM 'w1.parquet' through sqlml (full result materialised as Arrow)

The texts are written to a Parquet file first, as the issue's query reads them. DuckDB runs a scalar UDF
in the scan's threads, one per row group: a file with one row group is embedded by one DuckDB thread, so
the file is written with --row-group-rows rows per group (default 4,096) and, for comparison, with 16,384
and DuckDB's own default (122,880). The naive UDF reads the same file.

Usage:
  python benchmarks/bench_embed.py --rows 20000                 # W1 prefix, default model, auto device
  python benchmarks/bench_embed.py --rows 4000 --device cpu --skip-naive --alternate 3   # CPU: ST and SQL by turns
  python benchmarks/bench_embed.py --random-weights --rows 200000 --device cuda   # GPU: same architecture, random weights
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # module level: DuckDB evaluates the UDF's annotations in this namespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from runtime_rounds import round_summary, runtime_counters  # noqa: E402
from workloads import w1  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="W1 sentences (prefix of the 200,000)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, or several: cuda:0,cuda:1 / cuda:all")
    parser.add_argument("--dtype", default=None, help="sqlml dtype (default: float16 on CUDA, float32 on CPU)")
    parser.add_argument("--st-batch-sizes", default="256,1024")
    parser.add_argument("--random-weights", action="store_true", help="default architecture and tokenizer, random weights")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--alternate", type=int, default=0, help="then run ST and the SQL path by turns this many times (ratios per turn: robust to load drifting on a shared machine)")
    parser.add_argument("--row-group-rows", type=int, default=4_096, help="rows per Parquet row group of the input file (DuckDB: one UDF thread per group)")
    args = parser.parse_args()

    import duckdb
    import torch
    from sentence_transformers import SentenceTransformer

    import sqlml
    from sqlml.engine.runtime import split_devices
    from sqlml.models.device import resolve_device, resolve_dtype
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model

    devices = split_devices(args.device)  # 'cuda:all' / 'cuda:0,cuda:1': sqlml runs one worker per device
    device = resolve_device(devices[0])  # the peers (one process, one device) run on the first
    sqlml_device = args.device if len(devices) > 1 else device
    dtype = resolve_dtype(args.dtype, device)
    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    texts = w1(args.rows)
    results: dict[str, Any] = {
        "workload": "W1",
        "rows": len(texts),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else f"{platform.processor() or 'cpu'} x{os.cpu_count()}",
        "torch": torch.__version__,
        "duckdb": duckdb.__version__,
        "model": "all-MiniLM-L6-v2" + (" (random weights)" if args.random_weights else ""),
        "sqlml_dtype": dtype,
    }

    st = SentenceTransformer(model_dir, device=device)
    st.encode(texts[:512], batch_size=256)  # warm-up
    st_times = {}
    for b in (int(x) for x in args.st_batch_sizes.split(",")):
        st_times[b] = best_of(lambda: st.encode(texts, batch_size=b, normalize_embeddings=True), args.repeats)
    best_b = min(st_times, key=st_times.get)
    results["st"] = {"rows_per_s": len(texts) / st_times[best_b], "batch_size": best_b, "by_batch_size": {b: len(texts) / t for b, t in st_times.items()}}

    import pyarrow.parquet as pq

    table = pa.table({"s": texts})
    folder = Path(tempfile.mkdtemp(prefix="bench-w1-"))
    parquet = {rows: folder / f"w1-rg{rows}.parquet" for rows in (args.row_group_rows, 16_384, 122_880)}
    for rows, path in parquet.items():
        pq.write_table(table, path, row_group_size=rows)
    main_file = parquet[args.row_group_rows]
    results["parquet_row_group_rows"] = args.row_group_rows
    if not args.skip_naive:
        naive = duckdb.connect()
        dim = st.get_embedding_dimension()

        def encode_chunk(chunk: pa.ChunkedArray) -> pa.Array:
            vectors = st.encode(chunk.to_pylist(), batch_size=best_b, normalize_embeddings=True)
            return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1).astype(np.float32)), dim)

        naive.create_function("naive_embed", encode_chunk, ["VARCHAR"], duckdb.array_type(duckdb.sqltypes.FLOAT, dim), type="arrow")
        seconds = best_of(lambda: naive.sql(f"SELECT naive_embed(s) FROM '{main_file}'").to_arrow_table(), args.repeats)
        results["naive_udf"] = {"rows_per_s": len(texts) / seconds}
        naive.close()

    con = sqlml.connect(model=model_dir, device=sqlml_device, dtype=dtype, cache=False)  # measure the engine, not the cache
    con.register("t", table)
    con.sql("SELECT embed(s) FROM t LIMIT 2048").to_arrow_table()  # load the model
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    # The first pass over the file pays one-time costs (on CUDA: a graph capture per new batch shape);
    # the headline is the pass after it, reported beside it.
    first = best_of(lambda: con.sql(f"SELECT embed(s) FROM '{main_file}'").to_arrow_table(), 1)
    before, start = runtime_counters(), time.perf_counter()
    seconds = best_of(lambda: con.sql(f"SELECT embed(s) FROM '{main_file}'").to_arrow_table(), args.repeats)
    results["sqlml"] = {"rows_per_s": len(texts) / seconds, "rows_per_s_first_pass": len(texts) / first}
    results["runtime_during_headline"] = round_summary(before, runtime_counters(), time.perf_counter() - start)
    for rows, path in parquet.items():
        seconds = best_of(lambda: con.sql(f"SELECT embed(s) FROM '{path}'").to_arrow_table(), args.repeats)
        results["sqlml"][f"rows_per_s_row_groups_of_{rows}"] = len(texts) / seconds
    seconds = best_of(lambda: con.sql("SELECT embed(s) FROM t").to_arrow_table(), args.repeats)
    results["sqlml"]["rows_per_s_arrow_table_one_chunk"] = len(texts) / seconds
    # Agreement with the fp32 sentence-transformers reference on the same weights, row by row.
    check = texts[: min(len(texts), 5000)]
    ours = con.sql(f"SELECT embed(s) FROM (SELECT s, row_number() OVER () AS r FROM t) WHERE r <= {len(check)} ORDER BY r").to_arrow_table()
    ours_matrix = ours.column(0).combine_chunks().values.to_numpy().reshape(len(check), -1)
    reference = SentenceTransformer(model_dir, device=device).encode(check, batch_size=256, normalize_embeddings=True)
    results["agreement_min_cosine_vs_st_fp32"] = float((ours_matrix * reference).sum(axis=1).min())
    turns = []
    for _ in range(args.alternate):
        st_seconds = best_of(lambda: st.encode(texts, batch_size=best_b, normalize_embeddings=True), 1)
        sql_seconds = best_of(lambda: con.sql(f"SELECT embed(s) FROM '{main_file}'").to_arrow_table(), 1)
        turns.append({"st_rows_per_s": len(texts) / st_seconds, "sqlml_rows_per_s": len(texts) / sql_seconds, "sqlml_over_st": st_seconds / sql_seconds})
    if turns:
        results["alternating_turns"] = turns
    con.close()

    results["sqlml_over_st"] = results["sqlml"]["rows_per_s"] / results["st"]["rows_per_s"]
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        results["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20  # since the reset after the warm-up query
        # everything torch holds at the end, with the CUDA graphs' pool captured during the warm-up and the peer's model
        results["gpu_reserved_mib_at_end"] = torch.cuda.memory_reserved() / 2**20
    print(json.dumps(results, indent=2))
    print(f"\n{'peer':<12}{'rows/s':>12}")
    for peer in ("st", "naive_udf", "sqlml"):
        if peer in results:
            print(f"{peer:<12}{results[peer]['rows_per_s']:>12,.0f}")
    print(f"sqlml / st = {results['sqlml_over_st']:.2f}x")


if __name__ == "__main__":
    main()
