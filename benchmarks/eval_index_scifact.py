"""SciFact through a named index (issue 22): nDCG@10 and recall@100 of index search against the exact path.

Same corpus, queries and qrels as ``eval_relevance.py`` (documents = ``title + " " + text``; 5,183 abstracts,
300 test queries). The exact rows score every document for every query (``eval_relevance``'s method, cosine and
BM25 matrices); the index rows build ``sqlml.Index`` over the corpus (unchunked, then ``chunk='sentences'``) and
ask ``search_many(queries, k=100, mode)``. Also the recall@10 of the HNSW graph against exact cosine, with every
semantic search forced through the graph (the index answers exactly below 50,000 rows otherwise), and hybrid as it
runs above 50,000 rows (the union of the graph's and BM25's best candidates) at four candidate counts (graph, BM25). Embeddings go through sqlml's embedding cache (as index builds on CPU
do), so a rerun embeds only the passages of a chunked build not seen before.

    PYTHONPATH=$PWD python benchmarks/eval_index_scifact.py

Prints a table and writes ``index_scifact.json`` to ``benchmarks/results/<date>-cpu-index-scifact/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from eval_relevance import evaluate  # noqa: E402
from sqlml.engine.cache import get_cache  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.index import Index  # noqa: E402
from sqlml.ops.embed import embed_strings  # noqa: E402
from sqlml.ops.relevance.bm25 import bm25_matrix  # noqa: E402
from sqlml.ops.relevance.scores import hybrid  # noqa: E402


def scores_from_hits(hits: list[list[dict] | None], doc_index: dict[str, int], n: int) -> np.ndarray:
    """A (queries, docs) matrix ranking each query's hits first (by rank), everything else after."""
    matrix = np.full((len(hits), n), -1e9, dtype=np.float64)
    for q, found in enumerate(hits):
        for hit in found or []:
            matrix[q, doc_index[hit["key"]]] = 1e6 - hit["rank"]
    return matrix


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=root.parent / "shared" / "data")
    args = parser.parse_args()
    corpus = pq.read_table(args.data_dir / "retrieval_scifact_corpus.parquet").to_pylist()
    queries = pq.read_table(args.data_dir / "retrieval_scifact_queries.parquet").to_pylist()
    qrel_rows = pq.read_table(args.data_dir / "retrieval_scifact_qrels.parquet").to_pylist()
    doc_index = {str(row["doc_id"]): i for i, row in enumerate(corpus)}
    query_index = {row["query_id"]: i for i, row in enumerate(queries)}
    qrels: list[set[int]] = [set() for _ in queries]
    for row in qrel_rows:
        if row["score"] > 0:
            qrels[query_index[row["query_id"]]].add(doc_index[str(row["doc_id"])])
    docs = [f"{row['title']} {row['text']}" for row in corpus]
    texts = [row["text"] for row in queries]
    keys = [str(row["doc_id"]) for row in corpus]

    from sqlml.ops.index.search import EXACT_ROWS as exact_rows

    runtime = get_runtime(None, "cpu")
    cache = get_cache(True)
    semantic = embed_strings(texts, runtime, cache=cache) @ embed_strings(docs, runtime, cache=cache).T
    lexical = bm25_matrix(docs, texts)
    rows = [("exact: semantic", *evaluate(semantic, qrels)), ("exact: lexical", *evaluate(lexical, qrels)),
            ("exact: hybrid", *evaluate(np.stack([hybrid(semantic[q], lexical[q]) for q in range(len(texts))]), qrels))]
    timings = {}
    from sqlml.ops.index import search as search_module

    graph = Index("scifact-graph", device="cpu")
    graph.build(keys, docs)
    exact_top = np.argsort(-semantic, axis=1, kind="stable")[:, :10]
    search_module.EXACT_ROWS = 0  # every semantic search through the HNSW graph
    found = graph.search_many(texts, k=10, mode="semantic")
    defaults = search_module.HYBRID_GRAPH_CANDIDATES, search_module.HYBRID_CANDIDATES
    # hybrid as above 50,000 rows: the union of the graph's and BM25's best (graph, BM25 candidates)
    for by_graph, by_bm25 in ((1000, 1000), (200, 200), (100, 200), (100, 100)):
        search_module.HYBRID_GRAPH_CANDIDATES, search_module.HYBRID_CANDIDATES = by_graph, by_bm25
        hits = graph.search_many(texts, k=100, mode="hybrid")
        rows.append((f"index, hybrid as over 50,000 rows ({by_graph} graph + {by_bm25} BM25 candidates)",
                     *evaluate(scores_from_hits(hits, doc_index, len(docs)), qrels)))
        # a top-100 search asks for at least 2·k = 200 of each, so only top-10 searches tell the counts apart
        top10 = graph.search_many(texts, k=10, mode="hybrid")
        rows.append((f"index, hybrid as over 50,000 rows ({by_graph} graph + {by_bm25} BM25 candidates), top-10 searches",
                     evaluate(scores_from_hits(top10, doc_index, len(docs)), qrels)[0], None))
    search_module.HYBRID_GRAPH_CANDIDATES, search_module.HYBRID_CANDIDATES = defaults
    search_module.EXACT_ROWS = exact_rows
    recall = float(np.mean([len({keys[i] for i in exact_top[q]} & {h["key"] for h in found[q] or []}) / 10 for q in range(len(texts))]))
    graph.drop()
    print(f"graph recall@10 against exact cosine: {recall:.4f}", file=sys.stderr)
    for chunk in (None, "sentences"):
        index = Index(f"scifact-{chunk or 'rows'}", device="cpu")
        started = time.perf_counter()
        report = index.build(keys, docs, chunk=chunk)
        timings[f"build {chunk or 'unchunked'}"] = round(time.perf_counter() - started, 1)
        stored = index.info()
        for mode in ("semantic", "lexical", "hybrid"):
            started = time.perf_counter()
            hits = index.search_many(texts, k=100, mode=mode)
            timings[f"{mode} {chunk or 'unchunked'} (300 queries)"] = round(time.perf_counter() - started, 1)
            label = f"index{', chunk=sentences' if chunk else ''}: {mode}"
            rows.append((label, *evaluate(scores_from_hits(hits, doc_index, len(docs)), qrels)))
        print(f"{report}; stored rows {stored['rows']}", file=sys.stderr)
        index.drop()  # the cache keeps the embeddings; the index itself is only for this run
    lines = ["| method | nDCG@10 | recall@100 |", "|---|---:|---:|"] + [f"| {n} | {a:.2f} | {'–' if b is None else f'{b:.2f}'} |" for n, a, b in rows]
    lines += ["", f"Recall@10 of the HNSW graph against exact cosine (every semantic search forced through the graph): {recall:.4f}",
              "", "Seconds (CPU, 2 cores): " + ", ".join(f"{k} {v}" for k, v in timings.items())]
    print("\n".join(lines))
    out = root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-index-scifact"
    out.mkdir(parents=True, exist_ok=True)
    (out / "index_scifact.md").write_text("Command: `PYTHONPATH=$PWD python benchmarks/eval_index_scifact.py`\n\n" + "\n".join(lines) + "\n")
    (out / "index_scifact.json").write_text(json.dumps({"rows": rows, "graph_recall_at_10": recall, "seconds": timings}, indent=1) + "\n")


if __name__ == "__main__":
    main()
