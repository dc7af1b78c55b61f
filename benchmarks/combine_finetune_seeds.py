"""Pool the test-stage runs of ``eval_finetune.py`` made with disjoint seeds into one table (issue 21's "mean of 5 seeds").

Each run's ``finetune.json`` keeps every seed's accuracy (``rows[].extra.seed_accuracy``, in the order of its
``--seeds``); this script concatenates them per corpus and method and prints the means, the seed spread and
fine-tuned − LR per seed (paired: the same 8-per-label draw).

    PYTHONPATH=$PWD python benchmarks/combine_finetune_seeds.py \\
        benchmarks/results/2026-12-07-cpu-finetune-test benchmarks/results/2026-12-07-cpu-finetune-test-seeds34
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:]]
    if not folders:
        sys.exit(__doc__)
    seeds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for folder in folders:
        for row in json.loads((folder / "finetune.json").read_text())["rows"]:
            kind = "LR" if row["method"].startswith("LR") else "FT"
            seeds[row["corpus"], kind] += row["extra"]["seed_accuracy"]
    corpora = list(dict.fromkeys(corpus for corpus, _ in seeds))
    print(f"Runs: {', '.join(str(f) for f in folders)}\n")
    print("| corpus | seeds | LR (frozen) mean ± sd | fine-tuned mean ± sd | fine-tuned − LR (mean of paired seeds) |")
    print("|---|---:|---:|---:|---:|")
    for corpus in corpora:
        lr, ft = np.array(seeds[corpus, "LR"]), np.array(seeds[corpus, "FT"])
        print(f"| {corpus} | {len(lr)} | {lr.mean():.1f} ± {lr.std(ddof=1):.1f} | {ft.mean():.1f} ± {ft.std(ddof=1):.1f} | "
              f"{(ft - lr).mean():+.1f} |")


if __name__ == "__main__":
    main()
