"""Recall@10 of a named index (issue 22) on real-model vectors: the HNSW graph + float16 re-scoring against exact search.

The target (issue 22): recall@10 of the approximate answer >= 0.95 against exact search over the same vectors. Measured
before on SciFact (5,183 documents) and on random-weight or synthetic vectors; here on ``--rows`` W1 sentences
(``workloads.w1``, keyed ``0..rows-1``) embedded by the real default model (all-MiniLM-L6-v2) on CPU.

Steps:

1. **embed rows** once with the model (``embed_strings``, no embedding cache), 50,000 rows a part, each part saved
   as it finishes (an interrupted run resumes), then cached as ``w1-<rows>-float32.npy`` in ``--cache-dir``
   (default ``.bench-data/vectors-w1/``, git-ignored); a rerun, or a run over fewer rows (a W1 prefix), skips it.
2. **build** through ``build_index`` (temporary ``SQLML_HOME``), its embedding step fed the cached vectors in row
   order: the index's own float16 vectors, int8 HNSW graph and BM25 index. Graph seconds: time inside the graph's adds.
3. **queries**: ``--queries`` held-out W1 sentences (the same generator after the rows, as ``bench_index.py``), each
   searched alone with ``search_index(mode='semantic')``, top-10 (p50 / p99 latency, query embedding included);
   the same queries in one call.
4. **exact peers**: each query embedded alone (the vector the search embedded), exact top-10 by cosine over the
   float32 vectors and over the index's stored float16 vectors. recall@10 = mean over queries of
   ``|found ∩ exact| / 10``. Also the graph alone (usearch top-10, int8 distances, no re-scoring) and the share of
   the exact top-10 among the graph's 100 candidates (what re-scoring can reach at best).
5. **search width**: the same graph searched with usearch's ``expansion_search`` at 64 (the default), 128, 256 and 512,
   100 and 200 candidates re-scored from float16 as the index does: recall@10 and the graph's milliseconds per query.

Usage::

    PYTHONPATH=$PWD nice -n 19 python benchmarks/eval_index_recall.py --rows 1000000 --queries 1000

Writes ``index_recall.json`` and ``index_recall.md`` (``--out``, default ``benchmarks/results/<date>-cpu-index-recall``).

**Real text** (``--corpus real-sentences``): instead of W1, the sentences of every text column of every Parquet file
in ``--data-dir`` (default ``/work/shared/data``; see its README), split by sqlml's own splitter
(``sqlml.ops.sentences.split_texts``), kept at 3-80 words (whitespace split), deduplicated (first occurrence, files in
name order, columns in file order), shuffled with ``numpy.random.default_rng(0)``; the first 1,000 are the held-out
queries (``--queries`` takes the first of them), the rest the rows (at most 500,000; ``--rows`` takes a prefix, default
all). The sentence list is cached as ``real-sentences-corpus.json`` and the vectors as
``real-sentences-<rows>-<model>-float32.npy`` in ``--cache-dir`` (default ``.bench-data/vectors-real-sentences/``);
parts are kept per whole corpus, so a prefix run embeds only the parts it needs and a later whole run resumes from
them. Output files are ``index_recall-real-sentences-<rows>.json`` / ``.md``::

    PYTHONPATH=$PWD nice -n 19 python benchmarks/eval_index_recall.py --corpus real-sentences --rows 100000 \
        --out benchmarks/results/2026-12-07-cpu-index-recall-real-sentences
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from workloads import w1  # noqa: E402

#: Rows embedded and saved per part of the row embedding (the unit an interrupted run resumes from).
PART_ROWS = 50_000
#: Queries per exact matrix product (memory: this many × rows float32 scores).
QUERY_BLOCK = 100
#: Neighbours asked per query (recall@K).
K = 10
#: The graph's search widths tried after the index's own answer (usearch's expansion_search; the index uses the default).
EXPANSIONS = (64, 128, 256, 512)
#: --corpus real-sentences: the text columns read from each Parquet file (ids and labels are not text).
REAL_TEXT_COLUMNS = ("text", "title", "body", "summary", "article", "highlights", "subject")
#: --corpus real-sentences: words (whitespace split) a kept sentence has, at least and at most.
REAL_WORDS = (3, 80)
#: --corpus real-sentences: sentences held out as queries (the first of the shuffled list) and the most rows kept.
REAL_HELD_OUT = 1000
REAL_MAX_ROWS = 500_000


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2),
            "mean_ms": round(float(values.mean()), 2)}


def row_vectors(texts: list[str], runtime: Any, cache_dir: Path, log: Any, name: str = "w1", whole: list[str] | None = None,
                generator: str = "benchmarks/workloads.py w1") -> tuple[np.ndarray, dict[str, Any]]:
    """``float32 (len(texts), dimension)``: the model's vectors of ``texts`` (the first W1 rows), from ``cache_dir`` when
    a file of at least as many rows is there, else embedded part by part and cached.

    ``whole``: the whole corpus ``texts`` is a prefix of (``--corpus real-sentences``): parts are kept per whole corpus,
    only those ``texts`` needs are embedded, and the whole file is written once every part is there."""
    rows = len(texts)
    tag = runtime.fingerprint[:12]
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = sorted((int(p.name[len(name) + 1 :].split("-")[0]), p) for p in cache_dir.glob(f"{name}-*-{tag}-float32.npy"))
    usable = [(n, p) for n, p in cached if n >= rows]
    if usable:
        n, path = usable[0]
        log(f"row vectors: {path} ({n:,} rows, first {rows:,} used)")
        return np.load(path, mmap_mode="r")[:rows], {"cached": str(path)}
    from sqlml.ops.embed import embed_strings

    whole = texts if whole is None else whole
    if whole[:rows] != texts:
        raise RuntimeError("the rows are not a prefix of the whole corpus")
    parts = cache_dir / f"{name}-{len(whole)}-{tag}.parts"
    parts.mkdir(exist_ok=True)
    out = np.empty((rows, runtime.dimension), dtype=np.float32)
    embedded, seconds = 0, 0.0
    for start in range(0, rows, PART_ROWS):
        end = min(len(whole), start + PART_ROWS)
        part = parts / f"{start:08d}-{end:08d}.npy"
        if part.exists():
            out[start : min(rows, end)] = np.load(part)[: min(rows, end) - start]
            continue
        began = time.perf_counter()
        vectors = embed_strings(whole[start:end], runtime)
        seconds += time.perf_counter() - began
        embedded += end - start
        np.save(part, vectors)
        out[start : min(rows, end)] = vectors[: min(rows, end) - start]
        log(f"embedded rows {start:,}-{end:,}: {embedded / seconds:,.0f} rows/s so far")
    info: dict[str, Any] = {"rows_embedded_now": embedded}
    if embedded:
        info |= {"seconds": round(seconds, 1), "rows_per_s": round(embedded / seconds, 1)}
    if all((parts / f"{s:08d}-{min(len(whole), s + PART_ROWS):08d}.npy").exists() for s in range(0, len(whole), PART_ROWS)):
        full = out if rows == len(whole) else np.concatenate(
            [np.load(parts / f"{s:08d}-{min(len(whole), s + PART_ROWS):08d}.npy") for s in range(0, len(whole), PART_ROWS)])
        path = cache_dir / f"{name}-{len(whole)}-{tag}-float32.npy"
        np.save(path, full)
        (cache_dir / f"{name}-{len(whole)}-{tag}.json").write_text(json.dumps(
            {"rows": len(whole), "model": runtime.model_id, "fingerprint": runtime.fingerprint, "device": str(runtime.device),
             "generator": generator, "dtype": "float32"}, indent=1) + "\n")
        shutil.rmtree(parts)
        info["written"] = str(path)
    else:
        info["parts"] = str(parts)
    return out, info


def real_sentences(data_dir: Path, cache_dir: Path, log: Any) -> dict[str, Any]:
    """``--corpus real-sentences``: ``{"queries", "rows", "sources", ...}`` (see the module's docstring), built from
    ``data_dir`` or read from ``cache_dir/real-sentences-corpus.json`` when that was built from the same files."""
    import hashlib

    import pyarrow.parquet as pq

    from sqlml.ops.sentences import split_texts

    files = sorted(data_dir.glob("*.parquet"))
    stamp = [[f.name, f.stat().st_size] for f in files]
    path = cache_dir / "real-sentences-corpus.json"
    if path.exists():
        corpus = json.loads(path.read_text())
        if corpus["files"] == stamp:
            log(f"real sentences: {path} ({len(corpus['rows']):,} rows, {len(corpus['queries']):,} queries)")
            return corpus
    began = time.perf_counter()
    first: dict[str, str] = {}  # sentence -> "file:column" of its first occurrence
    split = kept = 0
    for f in files:
        table = pq.read_table(f)
        for column in table.column_names:
            if column not in REAL_TEXT_COLUMNS:
                continue
            sentences = split_texts(table.column(column).to_pylist()).sentences
            split += len(sentences)
            for sentence in sentences:
                if REAL_WORDS[0] <= len(sentence.split()) <= REAL_WORDS[1]:
                    kept += 1
                    first.setdefault(sentence, f"{f.stem}:{column}")
    unique = list(first)
    order = np.random.default_rng(0).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    queries, rows = shuffled[:REAL_HELD_OUT], shuffled[REAL_HELD_OUT : REAL_HELD_OUT + REAL_MAX_ROWS]
    corpus = {"files": stamp, "text_columns": list(REAL_TEXT_COLUMNS), "words": list(REAL_WORDS),
              "sentences_split": split, "sentences_kept": kept, "unique": len(unique), "held_out": REAL_HELD_OUT,
              "dropped_over_cap": max(0, len(unique) - REAL_HELD_OUT - REAL_MAX_ROWS), "seconds": round(time.perf_counter() - began, 1),
              "sha256_rows": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
              "queries": queries, "rows": rows, "sources": [first[s] for s in rows], "query_sources": [first[s] for s in queries]}
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(corpus) + "\n")
    log(f"real sentences: {split:,} split, {kept:,} of 3-80 words, {len(unique):,} unique -> {len(rows):,} rows + {len(queries):,} queries")
    return corpus


def composition(sources: list[str]) -> dict[str, int]:
    """Rows per source file (``name:column`` of each row's first occurrence, summed over columns), largest first."""
    counts: dict[str, int] = {}
    for source in sources:
        name = source.split(":")[0]
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """``int64 (len(queries), k)``: the rows of the ``k`` highest cosines per query, best first (``vectors`` unit rows)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for first in range(0, len(queries), QUERY_BLOCK):
        scores = queries[first : first + QUERY_BLOCK] @ vectors.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[first : first + QUERY_BLOCK] = np.take_along_axis(top, order, axis=1)
    return out


def recall(found: list[list[int]] | np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of the share of ``truth``'s rows (``k`` per query) among ``found``'s."""
    k = truth.shape[1]
    return round(float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth.tolist(), strict=True)])), 4)


def machine() -> dict[str, Any]:
    import torch
    import usearch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "usearch": usearch.__version__, "nice": os.nice(0), "load_average_at_start": os.getloadavg()}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("w1", "real-sentences"), default="w1")
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"), help="--corpus real-sentences: the Parquet files")
    parser.add_argument("--rows", type=int, default=None, help="default: 1,000,000 (W1), the whole corpus (real-sentences)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: .bench-data/vectors-w1 or vectors-real-sentences")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    real = args.corpus == "real-sentences"
    args.cache_dir = args.cache_dir or root / ".bench-data" / ("vectors-real-sentences" if real else "vectors-w1")
    started_run = time.perf_counter()
    home = tempfile.mkdtemp(prefix="eval-index-recall-home-")
    os.environ["SQLML_HOME"] = home
    os.environ["SQLML_CACHE"] = "0"  # every vector comes from the model (or this script's own cache of its vectors)

    from sqlml.config import Settings
    from sqlml.engine.runtime import runtime_for
    from sqlml.models.registry import default_model_dir
    from sqlml.ops.embed import embed_strings
    from sqlml.ops.index import build as build_module
    from sqlml.ops.index import search as search_module
    from sqlml.ops.index import store
    from sqlml.ops.index.build import build_index
    from sqlml.ops.index.search import search_index

    settings = Settings.resolve(model=str(default_model_dir()), device="cpu")
    runtime = runtime_for(settings)
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-index-recall"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    stem = "index_recall"

    def log(line: str) -> None:
        """Print a step's figure and save everything measured so far (a later failure keeps the earlier numbers)."""
        print(f"[{time.perf_counter() - started_run:7.0f} s] {line}", file=sys.stderr, flush=True)
        if results:  # (not before the rows are known: the file is named after them)
            (out / f"{stem}.partial.json").write_text(json.dumps(results, indent=1, default=str) + "\n")

    if real:
        corpus = real_sentences(args.data_dir, args.cache_dir, log)
        args.rows = args.rows or len(corpus["rows"])
        if args.rows > len(corpus["rows"]) or args.queries > len(corpus["queries"]):
            raise SystemExit(f"the real-sentences corpus has {len(corpus['rows']):,} rows and {len(corpus['queries']):,} queries")
        texts, queries = corpus["rows"][: args.rows], corpus["queries"][: args.queries]
        stem = f"index_recall-real-sentences-{args.rows}"
        described = (f"{args.rows:,} real sentences (prefix of {len(corpus['rows']):,}; see corpus), {args.queries:,} held-out "
                     "real sentences as queries")
    else:
        args.rows = args.rows or 1_000_000
        everything = w1(args.rows + args.queries)  # one stream: the rows, then held-out queries (as bench_index.py)
        texts, queries = everything[: args.rows], everything[args.rows :]
        described = f"{args.rows:,} W1 sentences, {args.queries:,} held-out W1 queries"
    keys = [str(i) for i in range(args.rows)]
    results |= {"rows": args.rows, "queries": args.queries, "workload": "real-sentences" if real else "W1", "model": "all-MiniLM-L6-v2",
                "model_path": runtime.model_id, "model_fingerprint": runtime.fingerprint, "device": "cpu", "machine": machine(),
                "command": f"python benchmarks/eval_index_recall.py {' '.join(sys.argv[1:])}"}
    if real:
        results["corpus"] = {key: corpus[key] for key in ("files", "text_columns", "words", "sentences_split", "sentences_kept", "unique",
                                                          "held_out", "dropped_over_cap", "seconds", "sha256_rows")} | {
            "corpus_rows": len(corpus["rows"]), "rows_by_file": composition(corpus["sources"][: args.rows]),
            "queries_by_file": composition(corpus["query_sources"][: args.queries])}
        log(f"corpus: {results['corpus']['rows_by_file']}")
        vectors, results["row_embedding"] = row_vectors(texts, runtime, args.cache_dir, log, "real-sentences", corpus["rows"],
                                                        f"benchmarks/eval_index_recall.py --corpus real-sentences (sha256 {corpus['sha256_rows']})")
    else:
        vectors, results["row_embedding"] = row_vectors(texts, runtime, args.cache_dir, log)
    log(f"row vectors ready: {results['row_embedding']}")

    position = 0

    def cached_vectors(values: list[str], runtime: Any, bar: Any = None, cache: Any = None) -> np.ndarray:
        """build_index's embedding step: the next rows' cached vectors (build embeds its fresh rows in order)."""
        nonlocal position
        if values != texts[position : position + len(values)]:
            raise RuntimeError(f"build asked for rows other than {position:,}..: the cached vectors would not match")
        position += len(values)
        if bar is not None:
            bar.update(len(values))
        return np.array(vectors[position - len(values) : position], dtype=np.float32)

    graph_seconds = 0.0
    add_in_steps = build_module._add_in_steps

    def timed_add(ann: Any, ids: np.ndarray, part: np.ndarray) -> None:
        nonlocal graph_seconds
        began = time.perf_counter()
        add_in_steps(ann, ids, part)
        graph_seconds += time.perf_counter() - began

    build_module.embed_strings = cached_vectors  # rows only; search imports its own embed_strings for the queries
    build_module._add_in_steps = timed_add
    began = time.perf_counter()
    report = build_index("recall", keys, texts, settings=settings)
    results["build"] = {"seconds": round(time.perf_counter() - began, 1), "graph_seconds": round(graph_seconds, 1),
                        "graph_rows_per_s": round(args.rows / graph_seconds, 1), "bytes": report.bytes}
    build_module.embed_strings, build_module._add_in_steps = embed_strings, add_in_steps
    if position != args.rows:
        raise RuntimeError(f"build embedded {position:,} of {args.rows:,} rows")
    log(f"build: {results['build']}")

    search_index("recall", queries[:5], K, "semantic", settings)  # load the model, vectors, graph
    answers, samples = [], []
    for q in queries:
        began = time.perf_counter()
        answers.append(search_index("recall", [q], K, "semantic", settings)[0])
        samples.append(time.perf_counter() - began)
    results["latency_semantic_top10"] = percentiles(samples)
    log(f"semantic, one query a call: {results['latency_semantic_top10']}")
    began = time.perf_counter()
    batched = search_index("recall", queries, K, "semantic", settings)
    seconds = time.perf_counter() - began
    results["batched_semantic"] = {"seconds": round(seconds, 2), "queries_per_s": round(len(queries) / seconds, 1)}

    version = store.load("recall")
    if len(version.segments) != 1 or version.key_list(np.arange(version.rows)) != keys:
        raise RuntimeError("the index is not one whole version with its rows in key order")
    ann = version.segments[0].ann()
    query_vectors = np.concatenate([embed_strings([q], runtime) for q in queries])  # as search_index embeds one query
    float16 = version.vectors_of(slice(None))
    top100 = exact_top(np.asarray(vectors, dtype=np.float32), query_vectors, 100)
    truth32 = top100[:, :K]
    truth16 = exact_top(float16, query_vectors, K)
    del float16
    found = [[int(key) for key in hit.keys] for hit in answers]  # type: ignore[union-attr]
    found_batched = [[int(key) for key in hit.keys] for hit in batched]  # type: ignore[union-attr]
    graph = ann.search(query_vectors, K)
    graph_rows = [version.rows_of_ids(np.asarray(graph.keys[q][: int(graph.counts[q])], dtype=np.uint64)).tolist()
                  for q in range(len(queries))]
    candidates = search_module._graph_rows(version, query_vectors, search_module.GRAPH_CANDIDATES, None)
    within = [int(np.isin(t, c).sum()) / K for t, c in zip(truth32, candidates, strict=True)]
    results["recall_at_10"] = {
        "index_vs_exact_float32": recall(found, truth32),
        "index_vs_exact_float16_stored": recall(found, truth16),
        "index_batched_vs_exact_float32": recall(found_batched, truth32),
        "graph_alone_vs_exact_float32": recall(graph_rows, truth32),
        "graph_alone_vs_exact_float16_stored": recall(graph_rows, truth16),
        "exact_float16_vs_exact_float32": recall(truth16, truth32),
        f"exact_top10_within_graph_{search_module.GRAPH_CANDIDATES}_candidates": round(float(np.mean(within)), 4),
    }
    per_query = np.array([len(set(f) & set(t)) / K for f, t in zip(found, truth32.tolist(), strict=True)])
    results["index_vs_float32_per_query"] = {"min": float(per_query.min()), "share_below_0.9": round(float((per_query < 0.9).mean()), 4),
                                             "share_perfect": round(float((per_query == 1).mean()), 4)}
    sample = np.random.default_rng(0).choice(args.rows, size=min(args.rows, 2000), replace=False)
    pairs = np.asarray(vectors[np.sort(sample)], dtype=np.float32)
    similarity = pairs @ pairs.T
    ranked = np.stack([np.asarray(vectors[top100[q]], dtype=np.float32) @ query_vectors[q] for q in range(len(queries))])
    results["vector_spread"] = {"mean_cosine_between_rows": round(float(similarity[np.triu_indices(len(pairs), 1)].mean()), 4),
                                **{f"mean_cosine_of_exact_neighbour_{rank}": round(float(ranked[:, rank - 1].mean()), 4) for rank in (1, 10, 11, 100)}}
    log(f"recall@10: {results['recall_at_10']}")

    default_expansion = ann.expansion_search
    sweep = []
    for expansion in EXPANSIONS:
        ann.expansion_search = expansion
        alone = ann.search(query_vectors, K)
        alone_rows = [version.rows_of_ids(np.asarray(alone.keys[q][: int(alone.counts[q])], dtype=np.uint64)).tolist()
                      for q in range(len(queries))]
        for count in (search_module.GRAPH_CANDIDATES, 2 * search_module.GRAPH_CANDIDATES):
            began = time.perf_counter()
            pools = [search_module._graph_rows(version, query_vectors[q : q + 1], count, None)[0] for q in range(len(queries))]
            seconds = time.perf_counter() - began
            rescored = [pool[np.argsort(-search_module._cosines(version, pool, query_vectors[q]), kind="stable")[:K]]
                        for q, pool in enumerate(pools)]
            sweep.append({"expansion_search": expansion, "candidates": count, "recall_at_10_vs_float32": recall(rescored, truth32),
                          "graph_alone_top10_recall_vs_float32": recall(alone_rows, truth32),
                          "graph_ms_per_query": round(1000 * seconds / len(queries), 2)})
            log(f"search width: {sweep[-1]}")
    ann.expansion_search = default_expansion
    results["search_width"] = {"default_expansion_search": default_expansion, "runs": sweep}
    results["search_settings"] = {"graph_candidates": search_module.GRAPH_CANDIDATES, "rescore": search_module.RESCORE,
                                  "exact_rows": search_module.EXACT_ROWS, "ann_dtype": store.ANN_DTYPE,
                                  "vector_dtype": np.dtype(store.VECTOR_DTYPE).name}
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["wall_seconds"] = round(time.perf_counter() - started_run, 1)

    shutil.rmtree(home, ignore_errors=True)
    r, m, e = results["recall_at_10"], results["machine"], results["row_embedding"]
    lat, build, spread = results["latency_semantic_top10"], results["build"], results["vector_spread"]
    lines = [f"Machine: {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), torch {m['torch']}, usearch {m['usearch']}; "
             f"rows: {described}; model: {results['model']} (real weights, CPU); "
             f"command: `{results['command']}`", "",
             "| measure | value |", "|---|---|",
             f"| recall@10, index (int8 graph, {search_module.GRAPH_CANDIDATES} candidates re-scored from float16) vs exact over float32 | "
             f"**{r['index_vs_exact_float32']}** |",
             f"| recall@10, index vs exact over the stored float16 vectors | {r['index_vs_exact_float16_stored']} |",
             f"| recall@10, graph alone (usearch top-10, int8, no re-scoring) vs exact float32 | {r['graph_alone_vs_exact_float32']} |",
             f"| exact top-10 within the graph's {search_module.GRAPH_CANDIDATES} candidates (re-scoring's ceiling) | "
             f"{r[f'exact_top10_within_graph_{search_module.GRAPH_CANDIDATES}_candidates']} |",
             f"| exact float16 top-10 vs exact float32 top-10 | {r['exact_float16_vs_exact_float32']} |",
             f"| queries with every exact float32 neighbour found / with fewer than 9 | "
             f"{results['index_vs_float32_per_query']['share_perfect']:.1%} / {results['index_vs_float32_per_query']['share_below_0.9']:.1%} |",
             f"| semantic top-10 latency, one query a call (query embedding included) | p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms |",
             f"| {args.queries:,} queries in one call (semantic) | {results['batched_semantic']['queries_per_s']:,.0f} queries/s |",
             f"| build_index with cached vectors | {build['seconds']} s (graph {build['graph_seconds']} s, "
             f"{build['graph_rows_per_s']:,.0f} rows/s) |",
             "| row embedding (real model, CPU) | " + (f"{e['rows_per_s']:,.0f} rows/s ({e['seconds']:,} s for {e['rows_embedded_now']:,} rows)"
                                                     if "rows_per_s" in e else f"cached: {e.get('cached', e.get('written', e.get('parts')))}") + " |",
             f"| mean cosine between rows; a query's exact neighbours 1 / 10 / 11 / 100 | {spread['mean_cosine_between_rows']}; "
             f"{spread['mean_cosine_of_exact_neighbour_1']} / {spread['mean_cosine_of_exact_neighbour_10']} / "
             f"{spread['mean_cosine_of_exact_neighbour_11']} / {spread['mean_cosine_of_exact_neighbour_100']} |",
             f"| peak RSS / wall time | {results['peak_rss_mib']:,} MiB / {results['wall_seconds']:,} s |",
             "", f"The same graph at other search widths (usearch expansion_search; the index searches at {default_expansion}), "
             "candidates re-scored from float16 as the index does:", "",
             "| expansion_search | candidates | recall@10 vs exact float32 | graph alone (top-10, int8) at this width | graph ms per query |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {run['expansion_search']} | {run['candidates']} | {run['recall_at_10_vs_float32']} | {run['graph_alone_top10_recall_vs_float32']} | "
              f"{run['graph_ms_per_query']} |" for run in sweep]
    if real:
        c = results["corpus"]
        lines += ["", f"Corpus: {c['sentences_split']:,} sentences split from the text columns {', '.join(c['text_columns'])} of "
                  f"{len(c['files'])} files, {c['sentences_kept']:,} of {c['words'][0]}-{c['words'][1]} words, {c['unique']:,} unique; "
                  f"{c['held_out']:,} held out as queries, {c['corpus_rows']:,} rows (sha256 {c['sha256_rows'][:16]}…); these "
                  f"{args.rows:,} rows by file: " + ", ".join(f"{name} {n:,}" for name, n in c["rows_by_file"].items())]
    print("\n".join(lines))
    (out / f"{stem}.partial.json").unlink(missing_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
