"""Where `classify` through a trained head spends its time (cProfile, top 30 by own time), beside `embed`.

``bench_head_classify.py`` measured heads 5× below the embed peer on an H100 (benchmarks/NOTES.md); this profiles
one Python-API call of each over the same W1 rows. Not a timing: the profiler slows Python code more than the model.

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/profile_head_classify.py --random-weights --device cuda --rows 100000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "benchmarks"))
sys.path.insert(1, str(root))

from workloads import w1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--features", default="embedding")
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = tempfile.mkdtemp(prefix="profile-head-home-")
    os.environ["SQLML_CACHE"] = "0"

    import sqlml
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="profile-model-"))) if args.random_weights else str(default_model_dir())
    train = w1(2000)
    sqlml.train_classifier("profiled", train, [f"label {i % 20}" for i in range(2000)], test_size=0, embedding_model=model_dir,
                           device=args.device, features=args.features)
    texts = w1(2000 + args.rows)[2000:]
    sqlml.embed(texts[:2000], model=model_dir, device=args.device)
    sqlml.classify(texts[:2000], model="profiled", embedding_model=model_dir, device=args.device)
    for label, call in (("embed", lambda: sqlml.embed(texts, model=model_dir, device=args.device)),
                        ("classify", lambda: sqlml.classify(texts, model="profiled", embedding_model=model_dir, device=args.device))):
        started = time.perf_counter()
        call()
        plain = time.perf_counter() - started
        profile = cProfile.Profile()
        profile.enable()
        call()
        profile.disable()
        report = io.StringIO()
        pstats.Stats(profile, stream=report).sort_stats("tottime").print_stats(30)
        print(f"=== {label}: {args.rows / plain:,.0f} rows/s unprofiled\n{report.getvalue()}", flush=True)


if __name__ == "__main__":
    main()
