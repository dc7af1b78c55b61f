"""Named indexes (issue 22): build, 1 % refresh, query latency, recall and size, beside the exact peers.

Steps, on W1 sentences (``workloads.w1``) keyed ``0..rows-1``:

1. **embed peer**: ``sqlml.embed`` over the same texts (rows/s), with the embedding cache off, as a build would see it.
2. **build**: ``build_index`` (the core every door calls): embedding, vectors, HNSW graph, BM25 index, atomic switch.
3. **refresh**: 1 % of the texts changed (every 100th row), ``build_index`` again (an incremental refresh: only those rows
   are written, beside the build's version); then another 1 % (every 100th row from row 50), which carries the first
   refresh's rows forward. Latency and recall below are measured on that segmented version.
4. **latency**: ``--queries`` single-query searches (``search_index`` with one query, the query's embedding included),
   top-10, per mode (semantic, lexical, hybrid) and for semantic with a 10 % key filter: p50 / p99 ms.
5. **batched**: all queries in one ``search_index`` call (semantic): queries/s.
6. **recall@10** of the index's semantic answer against the exact top-10 over the same stored vectors, and the exact
   numpy peer's latency (one matrix product per query over the memory-mapped vectors).
7. **table-form peer**: today's ``sqlml_search`` table macro (re-embeds its table each query; cache off) over the
   first ``--peer-rows`` rows, ``--peer-queries`` queries.
8. **size**: bytes on disk against the raw float32 vectors; peak RSS.
9. **profile** (with ``--out``, not timed): a third 1 % refresh under cProfile, top 40 by cumulative time, in
   ``refresh_profile.txt``.

``--synthetic-vectors`` replaces the model's row embeddings by seeded random unit vectors (the model still embeds the
queries): index structure and latency at a million rows without hours of CPU embedding; recall on such vectors is a
pessimistic case for HNSW (no cluster structure). ``--random-weights``: the default architecture with random weights
(the GPU machine has no weights).

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_index.py --rows 1000000 --synthetic-vectors --device cpu
    PYTHONPATH=$PWD python benchmarks/bench_index.py --rows 20000 --device cpu
    PYTHONPATH=$PWD python benchmarks/bench_index.py --rows 1000000 --random-weights --device cuda

Writes ``index_bench.json`` and ``index_bench.md`` (``--out``, default ``benchmarks/results/<date>-<device>-index``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from workloads import w1  # noqa: E402


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2),
            "mean_ms": round(float(values.mean()), 2)}


SERVE = """
import json, sys
from sqlml.config import Settings
from sqlml.ops.index.search import search_index
model, device, queries = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
settings = Settings.resolve(model=model, device=device)
for mode in ("semantic", "lexical", "hybrid"):
    for q in queries:
        search_index("bench", [q], 10, mode, settings)
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak over fork and exec on Linux)
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024)
"""


def serving_rss(model_dir: str, device: str, queries: list[str]) -> float | str:
    """Peak RSS (MiB) of a new process that loads index ``bench`` and answers ``queries`` in every mode: what serving costs."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", SERVE, model_dir, device], input=json.dumps(queries), capture_output=True,
                          text=True, check=False,
                          # JAX, where installed, is imported by transformers and grabs the GPU the parent holds: keep it on the CPU
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "JAX_PLATFORMS": "cpu", "USE_FLAX": "0"})
    if done.returncode != 0:  # the other numbers still count: keep the reason instead of losing the run
        # the exception's own line (JAX, when something imports it, appends a notice after it)
        errors = [line for line in done.stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
        return f"failed: {errors[-1] if errors else (done.stderr.strip().splitlines() or [done.returncode])[-1]}"
    return round(float(done.stdout.strip().splitlines()[-1]), 1)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--synthetic-vectors", action="store_true", help="random unit row vectors instead of the model's")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=None, help="single-query latency samples per mode (default: --queries)")
    parser.add_argument("--peer-rows", type=int, default=5000)
    parser.add_argument("--peer-queries", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--existing-home", type=Path, default=None,
                        help="SQLML_HOME of an earlier run's index 'bench' (same --rows): skip the embed peer, build and refresh")
    args = parser.parse_args()
    os.environ["SQLML_HOME"] = str(args.existing_home or tempfile.mkdtemp(prefix="bench-index-home-"))
    os.environ["SQLML_CACHE"] = "0"  # every embedding is computed: what a first build costs

    import sqlml
    from sqlml.config import Settings
    from sqlml.models.registry import default_model_dir
    from sqlml.ops.index import build as build_module
    from sqlml.ops.index import store
    from sqlml.ops.index.build import build_index
    from sqlml.ops.index.search import search_index
    from tests.support.random_model import build_random_model

    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    settings = Settings.resolve(model=model_dir, device=args.device)
    texts = w1(args.rows)
    keys = [str(i) for i in range(args.rows)]
    queries = [t for t in w1(args.rows + args.queries)[args.rows :]]  # the same generator, rows never indexed
    results: dict[str, Any] = {"rows": args.rows, "device": args.device, "synthetic_vectors": args.synthetic_vectors,
                               "home": os.environ["SQLML_HOME"],  # for a later --existing-home run (another tree's latency)
                               "model": "all-MiniLM-L6-v2" + (" (random weights)" if args.random_weights else "")}
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-{args.device.split(':')[0]}-index"
    out.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        """Print a step's figure and save everything measured so far (a later failure keeps the earlier numbers)."""
        print(line, file=sys.stderr, flush=True)
        (out / "index_bench.partial.json").write_text(json.dumps(results, indent=1, default=str) + "\n")

    if args.synthetic_vectors:
        rng = np.random.default_rng(0)

        def synthetic(values: list[str], runtime: Any, bar: Any = None, cache: Any = None) -> np.ndarray:
            vectors = rng.standard_normal((len(values), runtime.dimension)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

        build_module.embed_strings = synthetic  # rows only; queries go through the model (search imports its own)
    elif args.existing_home is None:
        sqlml.embed(texts[:1000], model=model_dir, device=args.device)  # load and warm up
        started = time.perf_counter()
        sqlml.embed(texts, model=model_dir, device=args.device)
        seconds = time.perf_counter() - started
        results["embed_peer"] = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds, 1)}
        log(f"embed peer: {args.rows / seconds:,.0f} rows/s")

    if args.existing_home is None:
        started = time.perf_counter()
        report = build_index("bench", keys, texts, settings=settings)
        seconds = time.perf_counter() - started
        results["build"] = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds, 1), "bytes": report.bytes}
        if "embed_peer" in results:
            results["build"]["share_of_embed_throughput"] = round(results["build"]["rows_per_s"] / results["embed_peer"]["rows_per_s"], 3)
        log(f"build: {seconds:.1f} s")

        changed = list(texts)
        for i in range(0, args.rows, 100):
            changed[i] = changed[i] + " (revised)"
        started = time.perf_counter()
        refreshed = build_index("bench", keys, changed, settings=settings)
        seconds = time.perf_counter() - started
        results["refresh_1pct"] = {"seconds": round(seconds, 2), "updated": refreshed.updated,
                                   "speedup_vs_build": round(results["build"]["seconds"] / seconds, 1)}
        log(f"refresh 1 %: {seconds:.1f} s")
        for i in range(50, args.rows, 100):
            changed[i] = changed[i] + " (revised again)"
        started = time.perf_counter()
        again = build_index("bench", keys, changed, settings=settings)
        seconds = time.perf_counter() - started
        segments = [{"folder": s.folder.name, "rows": s.rows} for s in store.load("bench").segments]
        results["refresh_1pct_again"] = {"seconds": round(seconds, 2), "updated": again.updated, "segments": segments,
                                         "speedup_vs_build": round(results["build"]["seconds"] / seconds, 1)}
        log(f"refresh another 1 %: {seconds:.1f} s, segments {segments}")

    search_index("bench", queries[:5], 10, "semantic", settings)  # load the model, vectors, graph
    search_index("bench", queries[:5], 10, "hybrid", settings)
    allowed = keys[::10]
    latency: dict[str, Any] = {}
    for label, mode, keep in (("semantic", "semantic", None), ("lexical", "lexical", None), ("hybrid", "hybrid", None),
                              ("semantic, 10 % key filter", "semantic", allowed)):
        samples = []
        for q in queries[: args.latency_queries or len(queries)]:
            started = time.perf_counter()
            search_index("bench", [q], 10, mode, settings, allowed=keep)
            samples.append(time.perf_counter() - started)
        latency[label] = percentiles(samples)
        log(f"{label}: {latency[label]}")
    results["latency_top10"] = latency

    started = time.perf_counter()
    batched = search_index("bench", queries, 10, "semantic", settings)
    seconds = time.perf_counter() - started
    results["batched_semantic"] = {"queries": len(queries), "seconds": round(seconds, 3), "queries_per_s": round(len(queries) / seconds, 1)}
    log(f"{len(queries):,} queries in one call: {results['batched_semantic']['queries_per_s']:,.0f} queries/s")

    version = store.load("bench")
    query_vectors = sqlml.embed(queries, model=model_dir, device=args.device)
    stored = version.vectors_of(slice(None))  # float32 copy of the stored (float16) vectors: the exact peers' input
    truth: list[set[str]] = []
    for first in range(0, len(queries), 100):  # exact top-10 of every query, 100 queries per matrix product
        scores = query_vectors[first : first + 100] @ stored.T
        scores[:, version.dead] = -np.inf  # rows a refresh replaced
        truth += [set(version.key_list(np.argpartition(-row, 10)[:10])) for row in scores]
    hits = sum(len(t & set(found.keys)) for t, found in zip(truth, batched, strict=True))  # type: ignore[union-attr]
    results["recall_at_10"] = round(hits / (10 * len(queries)), 4)
    exact_samples = []
    for q in query_vectors[:100]:  # the exact numpy peer: one matrix-vector product and a partition per query
        started = time.perf_counter()
        np.argpartition(-(stored @ q), 10)[:10]  # (dead rows not masked: a whole version's cost)
        exact_samples.append(time.perf_counter() - started)
    results["exact_numpy_peer"] = percentiles(exact_samples)
    log(f"recall@10 {results['recall_at_10']}, numpy exact {results['exact_numpy_peer']}")
    if args.device.startswith("cuda"):  # the exact torch peer on the GPU: the stored vectors in GPU memory
        import torch

        on_gpu = torch.from_numpy(stored).to(args.device, torch.float16)
        batch = torch.from_numpy(query_vectors).to(args.device, torch.float16)
        torch.cuda.synchronize()
        samples = []
        for q in batch[:100]:
            started = time.perf_counter()
            torch.topk(on_gpu @ q, 10).indices.cpu()
            samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        torch.topk(batch @ on_gpu.T, 10, dim=1).indices.cpu()
        seconds = time.perf_counter() - started
        results["exact_torch_gpu_peer"] = {**percentiles(samples), "batched_queries_per_s": round(len(queries) / seconds, 1)}
        log(f"torch exact on the GPU {results['exact_torch_gpu_peer']}")
        del on_gpu, batch
    del stored

    peer_rows = min(args.peer_rows, args.rows)
    con = sqlml.connect(model=model_dir, device=args.device)
    import pyarrow as pa

    con.register("peer", pa.table({"id": keys[:peer_rows], "body": texts[:peer_rows]}))
    samples = []
    for q in queries[: args.peer_queries]:
        started = time.perf_counter()
        con.execute("SELECT * FROM sqlml_search('peer', 'body', ?, k := 10, mode := 'semantic')", [q]).fetchall()
        samples.append(time.perf_counter() - started)
    results["table_form_peer"] = {"rows": peer_rows, **percentiles(samples)}
    con.close()

    raw = args.rows * int(version.meta["model"]["dimension"]) * 4
    parts = {f"{s.folder.name}/{p.name}": sum(f.stat().st_size for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
             for s in version.segments for p in s.folder.iterdir()}
    results["size"] = {"bytes": sum(parts.values()), "raw_vectors_bytes": raw, "ratio_to_raw": round(sum(parts.values()) / raw, 2),
                       "parts": parts}
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["serving_rss_mib"] = serving_rss(model_dir, args.device, queries[:100])
    if args.out is not None and args.existing_home is None:  # last, not timed: a third 1 % refresh under cProfile
        import cProfile
        import io
        import pstats

        for i in range(25, args.rows, 100):
            changed[i] = changed[i] + " (profiled)"
        profiler = cProfile.Profile()
        profiler.runcall(build_index, "bench", keys, changed, settings=settings)
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(40)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "refresh_profile.txt").write_text(report.getvalue())

    import torch

    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    results["device_name"] = device_name
    lines = [f"Device: {device_name}; rows: {args.rows:,} (W1){'; synthetic row vectors' if args.synthetic_vectors else ''}; "
             f"model: {results['model']}; command: `python benchmarks/bench_index.py {' '.join(sys.argv[1:])}`", "",
             "| measure | value |", "|---|---|"]
    if "embed_peer" in results:
        lines.append(f"| embed peer (sqlml.embed, cache off) | {results['embed_peer']['rows_per_s']:,.0f} rows/s |")
    if "build" in results:
        lines.append(f"| build | {results['build']['seconds']} s, {results['build']['rows_per_s']:,.0f} rows/s"
                     + (f" ({results['build']['share_of_embed_throughput']:.0%} of embed)" if "embed_peer" in results else "") + " |")
        lines.append(f"| refresh after changing 1 % | {results['refresh_1pct']['seconds']} s ({results['refresh_1pct']['speedup_vs_build']}× faster than the build) |")
        again = results["refresh_1pct_again"]
        lines.append(f"| refresh after changing another 1 % | {again['seconds']} s ({again['speedup_vs_build']}× faster than the build; "
                     f"segments {', '.join(str(s['folder']) + ': ' + format(s['rows'], ',') + ' rows' for s in again['segments'])}) |")
    for label, value in latency.items():
        lines.append(f"| top-10 latency, {label} (query embedding included) | p50 {value['p50_ms']} ms, p99 {value['p99_ms']} ms |")
    lines.append(f"| {len(queries):,} queries in one call (semantic) | {results['batched_semantic']['queries_per_s']:,.0f} queries/s |")
    lines.append(f"| recall@10 of the index vs exact over the same vectors | {results['recall_at_10']} |")
    lines.append(f"| exact numpy top-10 over the stored vectors (peer, no query embedding) | p50 {results['exact_numpy_peer']['p50_ms']} ms, "
                 f"p99 {results['exact_numpy_peer']['p99_ms']} ms |")
    if "exact_torch_gpu_peer" in results:
        peer = results["exact_torch_gpu_peer"]
        lines.append(f"| exact torch top-10 on the GPU (peer, float16, no query embedding) | p50 {peer['p50_ms']} ms per query; "
                     f"{peer['batched_queries_per_s']:,.0f} queries/s batched |")
    lines.append(f"| today's sqlml_search table form over {peer_rows:,} rows (peer, cache off) | p50 {results['table_form_peer']['p50_ms']:,.0f} ms |")
    lines.append(f"| bytes on disk / raw float32 vectors | {results['size']['bytes']:,} / {raw:,} = {results['size']['ratio_to_raw']}× |")
    serving = results["serving_rss_mib"]
    lines.append(f"| peak RSS of a fresh process serving 100 queries per mode | {f'{serving:,} MiB' if isinstance(serving, float) else serving} |")
    lines.append(f"| peak RSS of this benchmark (build, peers and all) | {results['peak_rss_mib']:,} MiB |")
    print("\n".join(lines))
    (out / "index_bench.partial.json").unlink(missing_ok=True)
    (out / "index_bench.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "index_bench.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
