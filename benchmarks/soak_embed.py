"""Soak: embed many rows through SQL with the tiny random model and watch the process's memory.

Each step embeds --step distinct rows (``SELECT count(embed(text)) FROM range(...)``, the embedding
cache off so every row reaches the runtime) and prints rows done, seconds, RSS now and peak RSS
(VmRSS / VmHWM from /proc/self/status), plus the runtime's batch counter. RSS that stays flat after
the first steps means nothing grows per row: no leak in the UDF path, the runtime queue or DuckDB.

Usage:
  python benchmarks/soak_embed.py                     # 1,000,000 rows in steps of 100,000
  python benchmarks/soak_embed.py --rows 300000 --step 50000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

import sqlml  # noqa: E402
from tests.support.random_model import build_random_model  # noqa: E402


def memory_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = build_random_model(Path(tmp), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        con = sqlml.connect(model=str(model), device="cpu", cache=False)
        con.sql("SELECT embed('warm up')").fetchall()
        start_rss, _ = memory_mib()
        print(f"after model load: RSS {start_rss:.0f} MiB")
        print("| rows done | step s | rows/s | RSS MiB | peak RSS MiB | batches |")
        print("|---:|---:|---:|---:|---:|---:|")
        results = []
        started = time.perf_counter()
        for done in range(0, args.rows, args.step):
            t0 = time.perf_counter()
            (count,) = con.sql(
                f"SELECT count(embed('soak row ' || i || ' ' || repeat('word ', (i % 23)::INTEGER))) "
                f"FROM range({done}, {done + args.step}) r(i)"
            ).fetchall()[0]
            seconds = time.perf_counter() - t0
            rss, peak = memory_mib()
            batches = sum(s["value"] for s in sqlml.stats() if s["component"] == "runtime" and s["metric"] == "batches")
            results.append({"rows": done + count, "seconds": seconds, "rss_mib": rss, "peak_mib": peak, "batches": batches})
            print(f"| {done + count:,} | {seconds:.1f} | {count / seconds:,.0f} | {rss:.0f} | {peak:.0f} | {batches:,} |", flush=True)
        con.close()
        print(json.dumps({"rows": args.rows, "seconds": time.perf_counter() - started, "rss_start_mib": start_rss, "steps": results}))


if __name__ == "__main__":
    main()
