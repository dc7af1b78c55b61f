"""One long text through summarize against the same sentences embedded as rows, by turns in one process.

Peers, on the same sentences (W1, joined with spaces into one text; the rows are that text's own
sentences as the splitter gives them, so both peers embed exactly the same strings):
  summarize   SELECT sqlml.summarize(body, n := 3) FROM 'long.parquet'   (one row holding N sentences)
  rows        SELECT embed(s) FROM 'rows.parquet'                        (the N sentences, one per row)

Both run by turns (the order flips every turn, so neither always runs first on a warm or a cold
machine); each pass reports its wall time and the runtime's counters (batches, padded tokens, worker
seconds), which do not depend on what else the machine runs. The headline is summarize / rows per turn.

  python benchmarks/bench_long_text.py --sentences 2000 --device cpu                  # default model
  python benchmarks/bench_long_text.py --sentences 20000 --random-weights --turns 2 --out benchmarks/results/DIR
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from runtime_rounds import round_summary, runtime_counters  # noqa: E402
from workloads import w1  # noqa: E402


def timed_pass(run: Callable[[], object]) -> dict[str, float]:
    """Wall and process CPU seconds of ``run()`` and what the runtime did meanwhile (batches, padded tokens, rounds)."""
    before, cpu, start = runtime_counters(), time.process_time(), time.perf_counter()
    run()
    wall = time.perf_counter() - start
    after = runtime_counters()
    # CPU seconds of the whole process: the work done, whatever share of the cores other jobs took meanwhile
    out: dict[str, float] = {"seconds": wall, "cpu_seconds": time.process_time() - cpu}
    for name in ("rows", "batches", "tokens", "padded_tokens"):
        out[name] = after.get(name, 0) - before.get(name, 0)
    out["worker_seconds"] = (after.get("round_us", 0) - before.get("round_us", 0)) / 1e6
    out |= round_summary(before, after, wall)
    return out


def markdown(result: dict[str, Any]) -> str:
    """The per-turn table of a result."""
    lines = [
        f"# One text of {result['sentences']:,} sentences vs the same sentences as rows",
        "",
        f"{result['model']} on {result['device']}; `{result['command']}`",
        "",
        "| turn | summarize s | rows s | summarize / rows | CPU s (summarize / rows) | CPU ratio | batches (summarize / rows) | padded tokens (summarize / rows) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, turn in enumerate(result["turns"]):
        a, b = turn["summarize"], turn["rows"]
        lines.append(
            f"| {i} | {a['seconds']:.2f} | {b['seconds']:.2f} | {turn['ratio']:.2f} | {a['cpu_seconds']:.1f} / {b['cpu_seconds']:.1f} "
            f"| {a['cpu_seconds'] / b['cpu_seconds']:.2f} | {a['batches']:,} / {b['batches']:,} "
            f"| {a['padded_tokens']:,} / {b['padded_tokens']:,} |"
        )
    lines += ["", f"Median ratio: **{result['median_ratio']:.2f}** (target ≤ 1.2); median CPU ratio {result['median_cpu_ratio']:.2f}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000, help="W1 sentences in the one long text")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--random-weights", action="store_true", help="default architecture and tokenizer, random weights")
    parser.add_argument("--turns", type=int, default=3, help="turns of summarize and rows (at least 2)")
    parser.add_argument("--row-group-rows", type=int, default=4_096, help="rows per Parquet row group of the rows file")
    parser.add_argument("--out", default="", help="also write long_text_N.json and long_text_N.md into this folder")
    args = parser.parse_args()

    import sqlml
    from sqlml.models.device import resolve_device
    from sqlml.models.registry import default_model_dir
    from sqlml.ops.sentences import split_texts
    from tests.support.random_model import build_random_model

    device = resolve_device(args.device)
    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    body = " ".join(w1(args.sentences))
    sentences = split_texts([body]).sentences
    folder = Path(tempfile.mkdtemp(prefix="bench-long-"))
    pq.write_table(pa.table({"body": [body]}), folder / "long.parquet")
    pq.write_table(pa.table({"s": sentences}), folder / "rows.parquet", row_group_size=args.row_group_rows)
    warm = " ".join(sentences[:512])

    con = sqlml.connect(model=model_dir, device=device, cache=False)  # measure the engine, not the cache
    con.sql("SELECT sqlml.summarize(?, n := 3)", params=[warm]).fetchall()  # load the model, warm the splitter and k-means
    con.sql(f"SELECT embed(s) FROM '{folder / 'rows.parquet'}' LIMIT 512").fetchall()
    peers = {
        "summarize": lambda: con.sql(f"SELECT sqlml.summarize(body, n := {args.n}) FROM '{folder / 'long.parquet'}'").fetchall(),
        "rows": lambda: con.sql(f"SELECT embed(s) FROM '{folder / 'rows.parquet'}'").to_arrow_table(),
    }
    turns = []
    for turn in range(max(2, args.turns)):
        order = ["summarize", "rows"] if turn % 2 == 0 else ["rows", "summarize"]
        passes = {name: timed_pass(peers[name]) for name in order}
        passes["ratio"] = passes["summarize"]["seconds"] / passes["rows"]["seconds"]
        turns.append(passes)
        print(f"turn {turn}: summarize {passes['summarize']['seconds']:.2f} s, rows {passes['rows']['seconds']:.2f} s, ratio {passes['ratio']:.2f}", flush=True)
    con.close()

    result: dict[str, Any] = {
        "workload": "W1 sentences joined into one text",
        "sentences": len(sentences),
        "n": args.n,
        "device": f"{platform.processor() or 'cpu'} x{os.cpu_count()}" if device == "cpu" else device,
        "model": "all-MiniLM-L6-v2" + (" (random weights)" if args.random_weights else ""),
        "command": "python benchmarks/bench_long_text.py " + " ".join(sys.argv[1:]),
        "turns": turns,
        "median_ratio": statistics.median(t["ratio"] for t in turns),
        "median_cpu_ratio": statistics.median(t["summarize"]["cpu_seconds"] / t["rows"]["cpu_seconds"] for t in turns),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result, indent=2))
    print(markdown(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"long_text_{args.sentences}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"long_text_{args.sentences}.md").write_text(markdown(result))


if __name__ == "__main__":
    main()
