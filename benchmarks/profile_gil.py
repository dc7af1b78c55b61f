"""Who holds the GIL while the SQL path runs? Feeds `py-spy record --gil`, then summarises its samples (JSON).

On the GPU host the SQL path is bound by Python holding the GIL, not by the device (benchmarks/NOTES.md,
"Where the remaining gap is"). This script finds which lines hold it:

  run     write the workload to Parquet, warm up (model load, CUDA graph captures), touch --ready, then
          run the query again and again for --seconds (the window to sample), printing rows/s per pass.
  report  read py-spy's raw (collapsed) output, recorded with --gil --threads, and print the share of
          GIL-held samples per phase, per sqlml line and per leaf line, and the GIL's busy share
          (samples / (rate x seconds)).

  python benchmarks/profile_gil.py run --workload summarize --random-weights --device cuda --ready /tmp/ready &
  while [ ! -f /tmp/ready ]; do sleep 1; done
  py-spy record --pid $! --gil --threads --nonblocking --format raw --rate 50 --duration 15 -o gil.txt
  python benchmarks/profile_gil.py report gil.txt --rate 50 --seconds 15

Sample without pausing the process (--nonblocking) and at a low rate: blocking samples at 250 Hz slowed
the SQL path ~2.6x on the GPU host (run 11), which distorts the shares.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

#: Phase of a sample: the first of these functions found on its stack, from the leaf up.
PHASES = {
    "split_texts": "split",
    "tokenize": "tokenize",
    "_tokenize": "tokenize",
    "_serve": "runtime worker",
    "init_centers_padded": "k-means start",
    "_run_group": "k-means Lloyd",
    "kmeans_batched": "k-means other",
    "select_many": "select",
    "distinct_counts": "distinct",
    "summaries": "result assembly",
    "unique_index": "dedup",
    "embed_strings": "embed glue (caller side)",
    "embed_array": "embed glue (caller side)",
    "summarize_array": "summarize glue",
    "run_rows": "UDF glue",
    "to_arrow_table": "main thread: DuckDB result",
}
FRAME = re.compile(r"^(?P<function>\S+) \((?P<file>[^:]+):(?P<line>\d+)\)$")


def run(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import sqlml
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model
    from workloads import w1, w2

    layers = {} if args.layers is None else {"num_hidden_layers": args.layers}  # 0: a CPU proxy where the model costs ~nothing
    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="gil-model-"), **layers)) if args.random_weights else str(default_model_dir())
    if args.workload == "embed":
        texts, query, group = w1(args.rows), "SELECT embed(body) FROM '{file}'", args.row_group_rows or 4096
    else:
        texts, query, group = w2(args.rows), "SELECT sqlml.summarize(body, n := 3) FROM '{file}'", args.row_group_rows or 1024
    file = Path(tempfile.mkdtemp(prefix="gil-data-")) / "input.parquet"
    pq.write_table(pa.table({"body": texts}), file, row_group_size=group)
    con = sqlml.connect(model=model_dir, device=args.device, cache=False)
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    sql = query.format(file=file)
    con.sql(sql).to_arrow_table()  # warm-up: model load, CUDA graph captures
    Path(args.ready).touch()
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        con.sql(sql).to_arrow_table()
        print(json.dumps({"workload": args.workload, "rows_per_s": len(texts) / (time.perf_counter() - start)}), flush=True)
    con.close()


def report(args: argparse.Namespace) -> None:
    phases: Counter[str] = Counter()
    sqlml_lines: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for raw in Path(args.samples).read_text().splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [FRAME.match(f) for f in stack.split(";")]
        frames = [f for f in frames if f]  # drops the thread's own root entry (--threads)
        total += count
        names = [f["function"].rsplit(".", 1)[-1] for f in reversed(frames)]  # py-spy writes Class.method
        phases[next((PHASES[n] for n in names if n in PHASES), "other: " + (names[-1] if names else "?"))] += count
        inside = [f for f in reversed(frames) if f["file"].startswith("sqlml/") or "/sqlml/" in f["file"]]
        if inside:
            f = inside[0]
            sqlml_lines[f"{f['function']} ({f['file'].rpartition('sqlml/')[2]}:{f['line']})"] += count
        root = stack.split(";", 1)[0]
        threads[re.sub(r"\d+", "N", root.partition(": ")[2] or "unnamed")] += count
        if frames:
            f = frames[-1]
            leaves[f"{f['function']} ({Path(f['file']).name}:{f['line']})"] += count
    expected = args.rate * args.seconds
    out = {
        "samples_with_gil_held": total,
        "gil_busy_share": total / expected if expected else None,
        "threads": {k: round(v / total, 4) for k, v in threads.most_common()},
        "phases": {k: round(v / total, 4) for k, v in phases.most_common()},
        "top_sqlml_lines": {k: round(v / total, 4) for k, v in sqlml_lines.most_common(args.top)},
        "top_leaf_lines": {k: round(v / total, 4) for k, v in leaves.most_common(args.top)},
    }
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="run the SQL path repeatedly (the process to sample)")
    runner.add_argument("--workload", choices=["embed", "summarize"], default="summarize")
    runner.add_argument("--rows", type=int, default=20_000)
    runner.add_argument("--row-group-rows", type=int, default=0, help="rows per Parquet row group (0: 4,096 embed, 1,024 summarize)")
    runner.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default)")
    runner.add_argument("--device", default="auto")
    runner.add_argument("--random-weights", action="store_true")
    runner.add_argument("--layers", type=int, help="with --random-weights: this many transformer layers (default: the model's 6)")
    runner.add_argument("--seconds", type=float, default=20.0, help="keep running passes this long after the warm-up")
    runner.add_argument("--ready", default="gil-ready", help="file touched when the warm-up is done")
    reporter = commands.add_parser("report", help="summarise py-spy raw output")
    reporter.add_argument("samples")
    reporter.add_argument("--rate", type=float, default=50.0, help="py-spy --rate used")
    reporter.add_argument("--seconds", type=float, default=0.0, help="py-spy --duration used (for the busy share)")
    reporter.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
