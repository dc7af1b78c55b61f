"""Throughput of ``sqlml_train(..., method := 'finetune')`` beside ``method := 'lr'`` on the same rows (issue 21 item 4).

Times ``train_classifier`` end to end (embedding, fine-tuning, the logistic regression, storing the version) with
``test_size=0`` on W1 sentences (``workloads.w1``) labelled round-robin with ``--labels`` labels, for each size of
``--rows`` (default: Banking77's two shapes, 8 × 77 = 616 rows and 10,003 rows). The labels are arbitrary, so only
the time means anything here; ``eval_finetune.py`` measures accuracy. On a GPU, use ``--random-weights`` (the
default architecture and tokenizer with random weights: the weights are not carried there).

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_finetune.py --device cpu --rows 616
    PYTHONPATH=$PWD python benchmarks/bench_finetune.py --device cuda --random-weights --rows 616,10003

Writes ``finetune_bench.json`` and prints a table (``--out`` folder, default ``benchmarks/results/<date>-<device>-finetune-bench``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from workloads import w1  # noqa: E402


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", default="616,10003", help="comma-separated training set sizes")
    parser.add_argument("--labels", type=int, default=77)
    parser.add_argument("--random-weights", action="store_true", help="default architecture and tokenizer, random weights")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = tempfile.mkdtemp(prefix="bench-finetune-home-")

    import torch

    from sqlml.models.registry import default_model_dir
    from sqlml.ops.classify.finetune import FineTuneOptions
    from sqlml.ops.classify.train import train_classifier
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    results = []
    for size in (int(x) for x in args.rows.split(",")):
        texts = w1(size)
        labels = [f"label {i % args.labels}" for i in range(size)]
        row = {"rows": size, "labels": args.labels, "steps": FineTuneOptions().steps_for(size)}
        for method in ("lr", "finetune"):
            started = time.perf_counter()
            train_classifier(f"bench-{method}-{size}", texts, labels, method=method, test_size=0, embedding_model=model_dir,
                             device=args.device)
            row[f"{method}_seconds"] = round(time.perf_counter() - started, 2)
        row["finetune_rows_per_second"] = round(row["steps"] * FineTuneOptions().batch_size / row["finetune_seconds"], 1)
        results.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    lines = [f"Device: {device_name}; model: all-MiniLM-L6-v2{' (random weights)' if args.random_weights else ''}; "
             f"command: `python benchmarks/bench_finetune.py {' '.join(sys.argv[1:])}`", "",
             "| rows | labels | fine-tune steps | lr (s) | finetune (s) | finetune rows/s (steps × 32 / s) |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['rows']:,} | {r['labels']} | {r['steps']} | {r['lr_seconds']} | {r['finetune_seconds']} | {r['finetune_rows_per_second']} |"
              for r in results]
    print("\n".join(lines))
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-{args.device.split(':')[0]}-finetune-bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune_bench.json").write_text(json.dumps({"device": device_name, "argv": sys.argv[1:], "results": results}, indent=1) + "\n")
    (out / "finetune_bench.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
