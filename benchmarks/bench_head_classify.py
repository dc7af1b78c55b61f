"""Throughput of classify through a trained head: embedding-only heads against heads with word features (issue 21).

A head with word features (``sqlml.models.words``) turns every batch's texts into TF-IDF rows on the CPU beside
the model's embeddings; this measures what that costs where the model is fast. Steps, in one process:

1. two heads trained on ``--train-rows`` W1 sentences with ``--labels`` synthetic labels (``label i % labels``):
   ``features='embedding'`` and ``features='embedding+words'`` (a tree without word features trains the first only);
2. ``--turns`` rounds, each timing every head through the Python API (``sqlml.classify(texts, model=head)``) and
   through SQL (``SELECT classify(s, model := head) FROM 'w1.parquet'``) over ``--rows`` W1 sentences, beside the
   embed peers (``sqlml.embed`` and ``SELECT embed(s)`` over the same rows, no head). The Parquet file has
   ``--row-group-rows`` rows per group: DuckDB runs a scalar UDF in the scan's threads, one per row group, so the
   SQL paths run on several threads as a user's file would (a registered one-chunk Arrow table runs on one);
3. with ``--profile``, one more Python-API call of the peer and of each head under cProfile (top 25 by own time,
   ``head_classify_profile.txt``; not a timing: the profiler slows Python more than the model).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/bench_head_classify.py --random-weights --device cuda --rows 200000
    PYTHONPATH=$PWD python benchmarks/bench_head_classify.py --device cpu --rows 5000

Writes ``head_classify.json`` and ``head_classify.md`` (``--out``, default ``benchmarks/results/<date>-<device>-head-classify``).
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "benchmarks"))
sys.path.insert(1, str(root))

from workloads import w1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--train-rows", type=int, default=2_000)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--row-group-rows", type=int, default=4096, help="rows per Parquet row group of the SQL input")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--random-weights", action="store_true", help="default architecture and tokenizer, random weights")
    parser.add_argument("--profile", action="store_true", help="also profile one call of each path (cProfile)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = tempfile.mkdtemp(prefix="bench-head-classify-home-")
    os.environ["SQLML_CACHE"] = "0"  # every row goes through the model

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    import sqlml
    from sqlml.models.registry import default_model_dir
    from sqlml.ops.classify.train import train_classifier
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    train_texts = w1(args.train_rows)
    train_labels = [f"label {i % args.labels}" for i in range(args.train_rows)]
    heads = {}
    has_features = "features" in inspect.signature(train_classifier).parameters
    for features in ("embedding", "embedding+words") if has_features else ("embedding",):
        extra = {"features": features} if has_features else {}
        name = f"bench-{features.replace('+', '-')}"
        train_classifier(name, train_texts, train_labels, test_size=0, embedding_model=model_dir, device=args.device, **extra)
        heads[features] = name
    texts = w1(args.train_rows + args.rows)[args.train_rows :]
    con = sqlml.connect(model=model_dir, device=args.device)
    parquet = Path(tempfile.mkdtemp(prefix="bench-head-classify-")) / "w1.parquet"
    pq.write_table(pa.table({"s": texts}), parquet, row_group_size=args.row_group_rows)
    sqlml.embed(texts[:2000], model=model_dir, device=args.device)  # load and warm up
    for name in heads.values():
        sqlml.classify(texts[:2000], model=name, embedding_model=model_dir, device=args.device)
    results: dict[str, list[float]] = {}
    for _ in range(args.turns):
        started = time.perf_counter()
        sqlml.embed(texts, model=model_dir, device=args.device)
        results.setdefault("embed peer (Python)", []).append(args.rows / (time.perf_counter() - started))
        started = time.perf_counter()
        con.sql(f"SELECT count(embed(s)) FROM '{parquet}'").fetchall()
        results.setdefault("embed peer (SQL)", []).append(args.rows / (time.perf_counter() - started))
        for features, name in heads.items():
            started = time.perf_counter()
            sqlml.classify(texts, model=name, embedding_model=model_dir, device=args.device)
            results.setdefault(f"classify, {features} head (Python)", []).append(args.rows / (time.perf_counter() - started))
            started = time.perf_counter()
            con.sql(f"SELECT count(classify(s, model := '{name}')) FROM '{parquet}'").fetchall()
            results.setdefault(f"classify, {features} head (SQL)", []).append(args.rows / (time.perf_counter() - started))
        print({k: round(v[-1]) for k, v in results.items()}, file=sys.stderr, flush=True)
    command = "python benchmarks/bench_head_classify.py " + " ".join(sys.argv[1:])
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-{args.device.split(':')[0]}-head-classify"
    out.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "device": device_name, "rows": args.rows, "row_group_rows": args.row_group_rows, "train_rows": args.train_rows, "labels": args.labels,
               "rows_per_second_by_turn": {k: [round(x, 1) for x in v] for k, v in results.items()}}
    (out / "head_classify.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [f"Device: {device_name}; {args.rows:,} W1 rows (SQL: Parquet, {args.row_group_rows:,} rows per row group); heads trained on {args.train_rows:,} rows, {args.labels} labels; "
             f"command: `{command}`", "", "| path | rows/s, by turn |", "|---|---|"]
    lines += [f"| {k} | {' / '.join(f'{x:,.0f}' for x in v)} |" for k, v in results.items()]
    (out / "head_classify.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.profile:
        calls = {"embed peer": lambda: sqlml.embed(texts, model=model_dir, device=args.device)}
        calls |= {f"classify, {f} head": (lambda n=name: sqlml.classify(texts, model=n, embedding_model=model_dir, device=args.device))
                  for f, name in heads.items()}
        (out / "head_classify_profile.txt").write_text("".join(profiled(label, call) for label, call in calls.items()))


def profiled(label: str, call: Callable[[], object]) -> str:
    """``call``'s cProfile report, top 25 by own time, under a ``=== label`` line."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    call()
    profile.disable()
    report = io.StringIO()
    pstats.Stats(profile, stream=report).sort_stats("tottime").print_stats(25)
    return f"=== {label}\n{report.getvalue()}\n"


if __name__ == "__main__":
    main()
