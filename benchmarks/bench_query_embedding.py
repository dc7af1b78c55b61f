"""One query's embedding on the CPU: torch against ONNX Runtime (``sqlml/models/onnx_forward.py``), by turns.

Steps, on W1 sentences (``workloads.w1``, never the same text twice in one step), default model, float32:

1. **forward by batch size**: the padded forward pass alone for batches of 1, 2, 4 and 8 rows, torch
   (``Encoder._torch_forward``) and ONNX Runtime (the prepared session) alternating batch by batch, ``--turns``
   turns of ``--samples`` batches each: median ms per batch. Where the two meet is ``SMALL_BATCH_ROWS``.
2. **through the runtime**: ``embed_strings`` of one query (tokenize, queue, worker, cache off) as an index search
   runs it, with the encoder serving queries through ONNX Runtime and, in alternating turns, through torch: p50/p99.
3. **agreement**: the ONNX Runtime and torch vectors of ``--samples`` queries: largest difference, smallest cosine.

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_query_embedding.py --out benchmarks/results/<date>-cpu-query-embedding

Writes ``query_embedding.json`` and ``query_embedding.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from workloads import w1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200, help="batches (step 1) or queries (steps 2, 3) per turn")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = tempfile.mkdtemp(prefix="bench-query-home-")
    os.environ["SQLML_CACHE"] = "0"

    import torch

    from sqlml.config import Settings
    from sqlml.engine.runtime import runtime_for
    from sqlml.ops.embed import embed_strings

    runtime = runtime_for(Settings.resolve(device="cpu"))
    encoder = runtime.encoder
    texts = iter(w1(200_000))
    prepare_start = time.perf_counter()
    encoder.serve_queries()
    runtime.embed([next(texts)])
    prepare_s = time.perf_counter() - prepare_start
    onnx = encoder._small_batches
    if onnx is None:
        sys.exit("ONNX Runtime is not serving this model's small batches (onnxruntime and onnx installed?)")
    results: dict[str, Any] = {"model": encoder.display_id, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                               "first_use_prepare_s": round(prepare_s, 2), "forward_ms": {}, "runtime_ms": {}}

    def padded(rows: int) -> tuple[np.ndarray, np.ndarray]:
        return encoder.tokenize([next(texts) for _ in range(rows)]).pad(np.arange(rows), encoder.pad_id)

    def timed(forward: Any, batch: tuple[np.ndarray, np.ndarray]) -> float:
        start = time.perf_counter()
        forward(*batch)
        return time.perf_counter() - start

    for rows in (1, 2, 4, 8):
        samples: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
        for _ in range(args.turns):
            for _ in range(max(10, args.samples // rows)):
                batch = padded(rows)
                samples["torch"].append(timed(encoder._torch_forward, batch))
                samples["onnxruntime"].append(timed(onnx, batch))
        results["forward_ms"][rows] = {name: round(float(np.median(v)) * 1000, 2) for name, v in samples.items()}
        print(f"forward, {rows} rows: {results['forward_ms'][rows]}", file=sys.stderr, flush=True)

    paths: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    for _ in range(args.turns):
        for name in ("onnxruntime", "torch"):
            encoder._small_batches = onnx if name == "onnxruntime" else None
            encoder._small_batches_tried = True
            for _ in range(args.samples):
                query = next(texts)
                start = time.perf_counter()
                embed_strings([query], runtime)
                paths[name].append(time.perf_counter() - start)
    encoder._small_batches = onnx
    for name, values in paths.items():
        ms = np.asarray(values) * 1000
        results["runtime_ms"][name] = {"p50": round(float(np.percentile(ms, 50)), 2), "p99": round(float(np.percentile(ms, 99)), 2)}
    print(f"through the runtime: {results['runtime_ms']}", file=sys.stderr, flush=True)

    worst_diff, worst_cos = 0.0, 1.0
    for _ in range(args.samples):
        batch = padded(1)
        a, b = onnx(*batch)[0], encoder._torch_forward(*batch)[0]
        worst_diff, worst_cos = max(worst_diff, float(np.abs(a - b).max())), min(worst_cos, float(a @ b))
    results["agreement"] = {"queries": args.samples, "max_abs_diff": worst_diff, "min_cosine": worst_cos}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "query_embedding.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# One query's embedding on the CPU ({results['model']}, {results['torch_threads']} torch threads, float32)", "",
             "| batch rows | torch ms | ONNX Runtime ms | ratio |", "|---:|---:|---:|---:|"]
    for rows, ms in results["forward_ms"].items():
        lines.append(f"| {rows} | {ms['torch']} | {ms['onnxruntime']} | {ms['torch'] / ms['onnxruntime']:.2f}x |")
    lines += ["", "| one query through the runtime | p50 ms | p99 ms |", "|---|---:|---:|"]
    lines += [f"| {name} | {v['p50']} | {v['p99']} |" for name, v in results["runtime_ms"].items()]
    lines += ["", f"Agreement over {args.samples} queries: largest difference {worst_diff:.2e}, smallest cosine {worst_cos:.7f}. "
              f"First use (export or load, check): {results['first_use_prepare_s']} s."]
    (args.out / "query_embedding.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
