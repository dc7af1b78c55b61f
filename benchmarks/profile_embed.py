"""Where does embedding time go? Each stage of the sqlml path timed alone on W1 (prints JSON).

Stages: tokenizer (one call; 2048-row chunks from N threads, as DuckDB calls it; with and without the
blingfire fast path), device work alone on pre-tokenized rows at several token budgets, the Python API,
DuckDB's own cost of a UDF returning 384 floats per row (no model), and the SQL path at several batch
sizes and DuckDB thread counts. Use it to find the bottleneck before changing the runtime (notes: benchmarks/NOTES.md).

  python benchmarks/profile_embed.py --rows 200000 --random-weights --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from workloads import w1  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def stage_times(encoder, tokens, budget: int) -> dict[str, float]:
    """Seconds spent per stage over all batches of one pass: sort, pad, forward (synchronised), copy out."""
    import numpy as np
    import torch

    from sqlml.engine.batching import plan_batches

    cuda = encoder.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = {"sort": 0.0, "pad": 0.0, "forward": 0.0, "to_host": 0.0, "batches": 0}
    start = time.perf_counter()
    lengths = tokens.lengths
    order = np.argsort(-lengths, kind="stable")
    times["sort"] = time.perf_counter() - start
    for part in plan_batches(lengths[order], 1 << 30, budget):
        t0 = time.perf_counter()
        ids, mask = tokens.pad(order[part], encoder.pad_id)
        t1 = time.perf_counter()
        result = encoder._run(ids, mask)
        sync()
        t2 = time.perf_counter()
        result.cpu().numpy()
        t3 = time.perf_counter()
        times["pad"] += t1 - t0
        times["forward"] += t2 - t1
        times["to_host"] += t3 - t2
        times["batches"] += 1
    if cuda:
        from torch.profiler import ProfilerActivity, profile

        ids, mask = tokens.pad(np.arange(min(8192, len(tokens))), encoder.pad_id)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            encoder._run(ids, mask)
            sync()
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=20), file=sys.stderr)
    return times


@contextmanager
def device_busy() -> Iterator[Callable[[], float]]:
    """While inside, every CUDA batch the runtime launches is bracketed by events on the launcher's
    stream; the yielded function gives the seconds the device spent on them (0 off CUDA)."""
    from sqlml.engine.cuda.launcher import Launcher

    spans = []
    launch = Launcher.launch

    def bracketed(self, input_ids, attention_mask, **kwargs):
        import torch

        if not self.encoder.device.startswith("cuda"):
            return launch(self, input_ids, attention_mask, **kwargs)
        stream = getattr(self, "_stream", None) or torch.cuda.current_stream()  # older code: the default stream
        start = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        pending = launch(self, input_ids, attention_mask, **kwargs)
        end = torch.cuda.Event(enable_timing=True)
        end.record(stream)
        spans.append((start, end))
        return pending

    def seconds() -> float:
        for _, end in spans:
            end.synchronize()
        return sum(start.elapsed_time(end) for start, end in spans) / 1000

    Launcher.launch = bracketed
    try:
        yield seconds
    finally:
        Launcher.launch = launch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--budgets", default="65536,262144,1048576")
    parser.add_argument("--sql-batch-sizes", default="4096,16384,65536")
    parser.add_argument("--sql-threads", default="8,16,32", help="DuckDB threads for the SQL path (at the default batch size)")
    parser.add_argument("--sql-row-groups", default="16384,8192", help="rows per Parquet row group of the SQL input (DuckDB: one thread per group)")
    args = parser.parse_args()

    import duckdb
    import numpy as np

    import sqlml
    from sqlml.engine.cuda.launcher import launcher_for
    from sqlml.engine.runtime import Runtime, _Request
    from sqlml.engine.tokenize import tokenize
    from sqlml.models.registry import default_model_dir, load_encoder
    from sqlml.models.tokenizer import TextTokenizer
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp())) if args.random_weights else str(default_model_dir())
    texts = w1(args.rows)
    encoder = load_encoder(model_dir, args.device)
    out: dict[str, object] = {"rows": len(texts), "device": encoder.device, "dtype": encoder.dtype}

    tokenize(encoder, texts[:1000])
    out["tokenize_one_call_rows_per_s"] = len(texts) / timed(lambda: tokenize(encoder, texts))  # as Runtime.submit tokenizes
    chunks = [texts[i : i + 2048] for i in range(0, len(texts), 2048)]
    with ThreadPoolExecutor(args.threads) as pool:
        out["tokenize_2048_chunks_threads_rows_per_s"] = len(texts) / timed(lambda: list(pool.map(lambda c: tokenize(encoder, c), chunks)))
        hf_only = TextTokenizer(encoder.tokenizer.hf, encoder.max_seq_length, fast=False)
        out["tokenize_2048_chunks_threads_hf_only_rows_per_s"] = len(texts) / timed(lambda: list(pool.map(hf_only, chunks)))
    out["tokenize_fast_path_share"] = 1 - len(encoder.tokenizer.fast.rejected(texts)) / len(texts) if encoder.tokenizer.fast else 0.0
    tokens = encoder.tokenize(texts)
    out["mean_tokens"] = float(tokens.lengths.mean())

    device_only = {}
    for budget in (int(b) for b in args.budgets.split(",")):
        runtime = Runtime(encoder, batch_size=1 << 30, max_batch_tokens=budget)
        runtime._run([_Request(tokens.take(np.arange(min(4096, len(tokens)))))])  # warm-up (allocator, kernels)
        device_only[budget] = len(texts) / timed(lambda: runtime._run([_Request(tokens)]))
    out["device_only_rows_per_s_by_token_budget"] = device_only
    out["stage_seconds_at_262144"] = stage_times(encoder, tokens, 262_144)

    out["python_api_rows_per_s"] = len(texts) / timed(lambda: sqlml.embed(texts, model=model_dir, device=args.device, cache=False))

    import pyarrow.parquet as pq

    table = pa.table({"s": texts})
    w1_file = Path(tempfile.mkdtemp()) / "w1.parquet"
    pq.write_table(table, w1_file, row_group_size=16_384)  # DuckDB runs the UDF in one thread per row group
    zeros = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(2048 * encoder.dimension, dtype=np.float32)), encoder.dimension)
    con = duckdb.connect()
    con.create_function("no_model", lambda s: zeros.slice(0, len(s)), ["VARCHAR"], duckdb.array_type(duckdb.sqltypes.FLOAT, encoder.dimension), type="arrow")
    out["sql_udf_without_model_rows_per_s"] = len(texts) / timed(lambda: con.sql(f"SELECT no_model(s) FROM '{w1_file}'").to_arrow_table())
    con.close()
    sql = {}
    for rows in (int(b) for b in args.sql_batch_sizes.split(",")):
        con = sqlml.connect(model=model_dir, device=args.device, batch_size=rows, cache=False)
        con.sql(f"SELECT embed(s) FROM '{w1_file}' LIMIT 4096").to_arrow_table()
        sql[rows] = len(texts) / timed(lambda: con.sql(f"SELECT embed(s) FROM '{w1_file}'").to_arrow_table())
        con.close()
    out["sql_rows_per_s_by_batch_size"] = sql
    by_threads = {}
    for threads in (int(n) for n in args.sql_threads.split(",")):
        con = sqlml.connect(model=model_dir, device=args.device, cache=False)
        con.execute(f"SET threads = {threads}")
        con.sql(f"SELECT embed(s) FROM '{w1_file}' LIMIT 4096").to_arrow_table()
        by_threads[threads] = len(texts) / timed(lambda: con.sql(f"SELECT embed(s) FROM '{w1_file}'").to_arrow_table())
        con.close()
    out["sql_rows_per_s_by_duckdb_threads"] = by_threads
    by_groups = {}
    for group_rows in (int(n) for n in args.sql_row_groups.split(",")):
        grouped = w1_file.with_name(f"w1-{group_rows}.parquet")
        pq.write_table(table, grouped, row_group_size=group_rows)
        con = sqlml.connect(model=model_dir, device=args.device, cache=False)
        with device_busy() as busy:
            by_groups[group_rows] = len(texts) / (wall := timed(lambda: con.sql(f"SELECT embed(s) FROM '{grouped}'").to_arrow_table()))
        by_groups[f"{group_rows}_device_busy_share"] = busy() / wall if encoder.device.startswith("cuda") else None
        con.close()
    out["sql_rows_per_s_by_row_group_rows"] = by_groups
    graphs = getattr(launcher_for(encoder), "_graphs", None)
    out["cuda_graph_shapes"] = len(graphs.shapes) if graphs is not None else None
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
