"""Top-10 search latency of an existing index in a process that only searches (no benchmark state beside it).

``bench_index.py`` measures latency in the process that generated a million texts and built the index; this
script loads index ``bench`` from ``--home`` (a ``bench_index.py`` run's ``SQLML_HOME``) and times ``--queries``
single-query searches per mode, the query embedding included, on the tree it is run from (``PYTHONPATH``), so
two trees can be compared by turns over the same index:

    for t in 1 2; do
      PYTHONPATH=$PWD python benchmarks/bench_index_latency.py --home /tmp/bench-index-home-XXXX
      PYTHONPATH=/path/to/old/tree python benchmarks/bench_index_latency.py --home /tmp/bench-index-home-XXXX
    done

Prints one JSON line: the tree, and p50/p99 ms per mode. Queries are W1 sentences the index does not hold
(the same generator as ``bench_index.py``), different queries for each mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import w1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="SQLML_HOME holding index 'bench'")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the index (queries start after them)")
    parser.add_argument("--queries", type=int, default=300, help="searches per mode")
    parser.add_argument("--modes", default="semantic,hybrid")
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = str(args.home)
    os.environ["SQLML_CACHE"] = "0"  # every query is embedded

    import sqlml
    from sqlml.config import Settings
    from sqlml.ops.index.search import search_index

    modes = args.modes.split(",")
    settings = Settings.resolve(device="cpu")
    queries = w1(args.rows + 5 + args.queries * len(modes))[args.rows :]
    for query in queries[:5]:  # load the model, the index and (on a CPU) the query path
        search_index("bench", [query], 10, modes[0], settings)
    result = {"tree": str(Path(sqlml.__file__).resolve().parents[1]), "queries_per_mode": args.queries}
    for i, mode in enumerate(modes):
        seconds = []
        for query in queries[5 + i * args.queries : 5 + (i + 1) * args.queries]:
            started = time.perf_counter()
            search_index("bench", [query], 10, mode, settings)
            seconds.append(time.perf_counter() - started)
        ms = np.asarray(seconds) * 1000
        result[mode] = {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
