"""Summarization throughput on W2 articles, sqlml's SQL path beside a naive peer, in one process (JSON + table).

Peers:
  naive   for each article: split (the project's splitter), SentenceTransformer.encode its sentences,
          scikit-learn KMeans(k=min(n, sentences), random_state=0, n_init=1), pick the sentence nearest each
          centroid, in original order — what a user writes by hand. Timed on --naive-articles (it is slow).
  sqlml   SELECT sqlml.summarize(body, n := 3) FROM 'w2.parquet' (full result materialised). DuckDB runs a
          scalar UDF in one thread per row group, so the file has --row-group-rows articles per group.

Also reports how often sqlml's picks equal the naive peer's on the naive subset (its selection rule is
not plain nearest-to-centroid; see docs/summarize.md).

  python benchmarks/bench_summarize.py --articles 2000                       # CPU, default model
  python benchmarks/bench_summarize.py --random-weights --articles 20000 --device cuda
  python benchmarks/bench_summarize.py --articles 2000 --turns-of SQLML_SUMMARIZE_PIECE=0,512 --turns 3   # a setting by turns
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from runtime_rounds import round_summary, runtime_counters  # noqa: E402
from workloads import w2  # noqa: E402


def naive_summary(text: str, n: int, st, KMeans) -> str:
    from sqlml.ops.sentences import split_sentences

    sentences = [s.text for s in split_sentences(text)]
    if len(sentences) <= n:
        return " ".join(sentences)
    vectors = st.encode(sentences, normalize_embeddings=True)
    km = KMeans(n_clusters=n, random_state=0, n_init=1).fit(vectors)
    picks = sorted({int(np.argmin(((vectors - c) ** 2).sum(axis=1))) for c in km.cluster_centers_})
    return " ".join(sentences[i] for i in picks)


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Thread-seconds spent in each phase of ``summarize`` (summed over DuckDB's threads) while inside."""
    import sqlml.engine.cuda.kmeans_graphs as kmeans_graphs
    import sqlml.engine.runtime as runtime
    import sqlml.ops.summarize.kmeans as kmeans
    import sqlml.ops.summarize.pipeline as summarize

    seconds: dict[str, float] = defaultdict(float)
    lock = threading.Lock()

    def timed(name: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    seconds[name] += time.perf_counter() - start
                    seconds[name + "_calls"] += 1

        return wrapper

    names = ["split_texts", "embed_strings", "distinct_counts", "kmeans_batched", "select_many"]
    inside_kmeans = [(kmeans, "init_centers_padded"), (kmeans, "lloyd"), (kmeans, "start_numbers"), (kmeans_graphs, "cluster")]
    saved = {name: getattr(summarize, name) for name in names} | {(module, name): getattr(module, name) for module, name in inside_kmeans}
    saved_tokenize = runtime.tokenize  # a request's tokenization, in the caller's thread (pieces on the pool included)
    try:
        for name in names:
            setattr(summarize, name, timed(name, saved[name]))
        for module, name in inside_kmeans:
            setattr(module, name, timed(f"{module.__name__.rsplit('.', 1)[1]}.{name} (inside kmeans_batched)", saved[module, name]))
        runtime.tokenize = timed("tokenize (inside embed_strings)", saved_tokenize)
        yield seconds
    finally:
        for name in names:
            setattr(summarize, name, saved[name])
        for module, name in inside_kmeans:
            setattr(module, name, saved[module, name])
        runtime.tokenize = saved_tokenize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--naive-articles", type=int, default=300)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, or several: cuda:0,cuda:1 / cuda:all")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--row-group-rows", type=int, default=1024, help="articles per Parquet row group of the input file")
    parser.add_argument("--also-row-groups", default="", help="also time the SQL path on files with these row-group sizes (comma list)")
    parser.add_argument("--also-threads", default="", help="also time the SQL path with these DuckDB thread counts (comma list)")
    parser.add_argument(
        "--turns-of",
        default="",
        metavar="VAR=V1,V2",
        help="also time the SQL path with each value of a setting read per call, by turns in this process "
        "(SQLML_SUMMARIZE_PIECE=0,512; SQLML_CUDA_GRAPHS=0,1 turns k-means graphs on and off, the model's stay as loaded)",
    )
    parser.add_argument("--pool-turns", default="", metavar="N1,N2", help="also time the SQL path with the summarize pool at these thread counts, by turns (default: one per core)")
    parser.add_argument("--turns", type=int, default=2, help="turns of --turns-of and --pool-turns")
    parser.add_argument("--phases", action="store_true", help="one more SQL run with each phase's thread-seconds timed (split, tokenize, embed, k-means, select)")
    parser.add_argument("--clusters-per-sentence", type=float, default=None,
                        help="run with this k-means clusters per summary sentence instead of the default rule's (an A/B knob)")
    parser.add_argument("--rule", action="append", default=[], metavar="FIELD=VALUE",
                        help="run with this SelectionRule field changed (an A/B knob, repeatable): position_weight=0, skip_boilerplate=0")
    args = parser.parse_args()
    rule_changes = {field: float(value) for field, value in (item.split("=", 1) for item in args.rule)}
    if args.clusters_per_sentence is not None:
        rule_changes["clusters_per_sentence"] = args.clusters_per_sentence
    if rule_changes:
        from sqlml.ops.summarize.pipeline import DEFAULT_RULE

        # every function takes DEFAULT_RULE as its default argument: change that one frozen instance in place
        for field, value in rule_changes.items():
            kind = type(getattr(DEFAULT_RULE, field))
            object.__setattr__(DEFAULT_RULE, field, kind(value))

    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.cluster import KMeans

    import sqlml
    from sqlml.engine.runtime import split_devices
    from sqlml.models.device import resolve_device
    from sqlml.models.registry import default_model_dir
    from tests.support.random_model import build_random_model

    devices = split_devices(args.device)  # 'cuda:all' / 'cuda:0,cuda:1': sqlml runs one worker per device
    device = resolve_device(devices[0])  # the peers (one process, one device) run on the first
    sqlml_device = args.device if len(devices) > 1 else device
    model_dir = str(build_random_model(tempfile.mkdtemp(prefix="bench-model-"))) if args.random_weights else str(default_model_dir())
    articles = w2(args.articles)
    out: dict[str, object] = {
        "workload": "W2",
        "articles": len(articles),
        "n": args.n,
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "model": "all-MiniLM-L6-v2" + (" (random weights)" if args.random_weights else ""),
        "clusters_per_sentence": args.clusters_per_sentence,
        "rule_changes": rule_changes,
    }

    st = SentenceTransformer(model_dir, device=device)
    subset = articles[: args.naive_articles]
    naive_summary(subset[0], args.n, st, KMeans)  # warm-up
    start = time.perf_counter()
    naive = [naive_summary(a, args.n, st, KMeans) for a in subset]
    out["naive"] = {"articles_per_s": len(subset) / (time.perf_counter() - start), "articles": len(subset)}

    con = sqlml.connect(model=model_dir, device=sqlml_device, cache=False)  # measure the engine, not the cache
    import pyarrow.parquet as pq

    w2_file = Path(tempfile.mkdtemp(prefix="bench-w2-")) / "w2.parquet"
    pq.write_table(pa.table({"id": list(range(len(articles))), "body": articles}), w2_file, row_group_size=args.row_group_rows)
    out["parquet_row_group_rows"] = args.row_group_rows
    con.sql(f"SELECT sqlml.summarize(body, n := {args.n}) FROM '{w2_file}' LIMIT 64").to_arrow_table()  # load + warm-up
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    query = f"SELECT id, sqlml.summarize(body, n := {args.n}) AS s FROM '{w2_file}'"
    # The first pass over the file pays one-time costs (on CUDA: graph captures, k-means shapes, the
    # allocator's growth); the headline is the pass after it, reported beside it (as bench_embed does).
    start = time.perf_counter()
    con.sql(query).to_arrow_table()
    first = time.perf_counter() - start
    before, start = runtime_counters(), time.perf_counter()
    ours = con.sql(query).to_arrow_table()
    out["sqlml"] = {"articles_per_s": len(articles) / (time.perf_counter() - start), "articles_per_s_first_pass": len(articles) / first}
    out["runtime_during_headline"] = round_summary(before, runtime_counters(), time.perf_counter() - start)

    def articles_per_s() -> float:
        start = time.perf_counter()
        con.sql(query).to_arrow_table()
        return round(len(articles) / (time.perf_counter() - start), 1)

    def by_turns(values: list[str], apply: Callable[[str], None]) -> dict[str, list[float]]:
        """Each value applied, then the SQL path timed; all values in turn, ``--turns`` times."""
        rates = defaultdict(list)
        for _ in range(args.turns):
            for value in values:
                apply(value)
                rates[value].append(articles_per_s())
        return dict(rates)

    if args.turns_of:  # the setting is read per call
        name, values = args.turns_of.split("=", 1)
        saved = os.environ.get(name)

        def set_setting(value: str) -> None:
            os.environ[name] = value

        out["sqlml"][f"articles_per_s_by_turns_of_{name}"] = by_turns(values.split(","), set_setting)
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved
    if args.pool_turns:  # the pieces' pool is created on first use: replace it by one of each size
        from concurrent.futures import ThreadPoolExecutor

        from sqlml.engine import pools

        def resize(threads: str) -> None:
            pools._pools.pop("summarize").shutdown()
            pools._pools["summarize"] = ThreadPoolExecutor(int(threads), thread_name_prefix="sqlml-summarize")

        out["sqlml"]["articles_per_s_by_pool_threads_turns"] = by_turns(args.pool_turns.split(","), resize)
        pools._pools.pop("summarize").shutdown()  # back to the default pool on next use
    by_id = dict(zip(ours.column("id").to_pylist(), ours.column("s").to_pylist(), strict=True))
    for rows in (int(x) for x in args.also_row_groups.split(",") if x):
        other = w2_file.with_name(f"w2-{rows}.parquet")
        pq.write_table(pa.table({"id": list(range(len(articles))), "body": articles}), other, row_group_size=rows)
        start = time.perf_counter()
        con.sql(f"SELECT id, sqlml.summarize(body, n := {args.n}) AS s FROM '{other}'").to_arrow_table()
        out["sqlml"][f"articles_per_s_row_groups_{rows}"] = len(articles) / (time.perf_counter() - start)
    for threads in (int(x) for x in args.also_threads.split(",") if x):
        con.execute(f"SET threads = {threads}")
        start = time.perf_counter()
        con.sql(f"SELECT id, sqlml.summarize(body, n := {args.n}) AS s FROM '{w2_file}'").to_arrow_table()
        out["sqlml"][f"articles_per_s_duckdb_threads_{threads}"] = len(articles) / (time.perf_counter() - start)
        con.execute("RESET threads")
    if args.phases:
        with phase_timers() as seconds:
            start = time.perf_counter()
            con.sql(f"SELECT id, sqlml.summarize(body, n := {args.n}) AS s FROM '{w2_file}'").to_arrow_table()
            wall = time.perf_counter() - start
        out["phases"] = {"wall_s": wall, "thread_seconds": dict(seconds)}
    con.close()

    out["sqlml_over_naive"] = out["sqlml"]["articles_per_s"] / out["naive"]["articles_per_s"]
    out["same_picks_as_naive"] = sum(by_id[i] == naive[i] for i in range(len(subset))) / len(subset)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20  # since the reset after the warm-up query
        # everything torch holds at the end, with the CUDA graphs' pool captured during the warm-up and the peer's model
        out["gpu_reserved_mib_at_end"] = torch.cuda.memory_reserved() / 2**20
    print(json.dumps(out, indent=2))
    print(f"\n{'peer':<8}{'articles/s':>12}\nnaive   {out['naive']['articles_per_s']:>12,.0f}\nsqlml   {out['sqlml']['articles_per_s']:>12,.0f}")
    print(f"sqlml / naive = {out['sqlml_over_naive']:.1f}x; same picks as naive: {out['same_picks_as_naive']:.0%}")


if __name__ == "__main__":
    main()
