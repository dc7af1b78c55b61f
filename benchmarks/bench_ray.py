"""Ray Data adapter overhead: one actor on one device vs the local DuckDB path, same workload, one process.

  python benchmarks/bench_ray.py --rows 20000                     # CPU
  python benchmarks/bench_ray.py --random-weights --rows 200000 --num-gpus 1

Prints JSON: W1 embedding rows/s through `SELECT embed(s)` (local) and `sqlml.ray.embed` with one actor
(Ray started in this process, data from an in-memory Arrow table, results materialised), and Ray's overhead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from workloads import w1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--num-gpus", type=float, default=0)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--batch-size", type=int, default=16_384, help="rows per Ray batch")
    args = parser.parse_args()

    import ray

    import sqlml
    import sqlml.ray as sr
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    device = "cuda" if args.num_gpus else "cpu"
    table = pa.table({"id": list(range(args.rows)), "s": w1(args.rows)})
    out: dict[str, object] = {"workload": "W1", "rows": args.rows, "device": device, "num_gpus_per_actor": args.num_gpus}

    con = sqlml.connect(model=model_dir, device=device, cache=False)  # measure the engine, not the cache
    con.register("t", table)
    con.sql("SELECT embed(s) FROM t LIMIT 4096").to_arrow_table()
    start = time.perf_counter()
    con.sql("SELECT embed(s) FROM t").to_arrow_table()
    out["local_duckdb_rows_per_s"] = args.rows / (time.perf_counter() - start)
    con.close()

    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = ray.data.from_arrow(table)
    warm = sr.embed(ds.limit(4096), "s", model=model_dir, num_gpus=args.num_gpus or None, batch_size=args.batch_size)
    warm.materialize()
    start = time.perf_counter()
    result = sr.embed(ds, "s", model=model_dir, num_gpus=args.num_gpus or None, batch_size=args.batch_size).materialize()
    elapsed = time.perf_counter() - start
    assert result.count() == args.rows
    out["ray_one_actor_rows_per_s"] = args.rows / elapsed
    out["ray_over_local"] = out["ray_one_actor_rows_per_s"] / out["local_duckdb_rows_per_s"]
    out["note"] = "the Ray figure includes starting the actor and loading the model once (a fresh actor per job)"
    ray.shutdown()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
