"""Retrieval quality of sqlml's relevance modes on SciFact (BEIR/MTEB test split).

Documents are ``title + " " + text`` (as MTEB embeds them); every query ranks the whole corpus of
5,183 abstracts. Prints nDCG@10 and recall@100 (as percentages, as MTEB reports them) for semantic,
lexical and hybrid scoring, the fusion and tokenisation variants tried, and the published numbers.

Corpus embeddings go through sqlml's persistent embedding cache, so a rerun embeds nothing
(first run: several minutes on a 2-core CPU).

    python benchmarks/eval_relevance.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from sqlml.engine.cache import get_cache  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.embed import embed_strings  # noqa: E402
from sqlml.ops.relevance.bm25 import bm25_matrix  # noqa: E402
from sqlml.ops.relevance.scores import hybrid, top_k  # noqa: E402

PUBLISHED = {"all-MiniLM-L6-v2 (MTEB)": (64.51, 92.50), "BM25 bm25s (MTEB baseline)": (68.74, 91.27)}


def ndcg_at(order: np.ndarray, relevant: set[int], k: int = 10) -> float:
    gains = np.array([1.0 if int(d) in relevant else 0.0 for d in order[:k]])
    dcg = float((gains / np.log2(np.arange(2, len(gains) + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(len(relevant), k) + 2))).sum())
    return dcg / ideal


def recall_at(order: np.ndarray, relevant: set[int], k: int = 100) -> float:
    return len(relevant.intersection(int(d) for d in order[:k])) / len(relevant)


def evaluate(scores: np.ndarray, qrels: list[set[int]]) -> tuple[float, float]:
    """Mean nDCG@10 and recall@100 (percent) of a ``(queries, docs)`` score matrix; ties by doc order."""
    ndcg, recall = [], []
    for q, relevant in enumerate(qrels):
        order = np.lexsort((np.arange(scores.shape[1]), -scores[q].astype(np.float64)))[:100]
        ndcg.append(ndcg_at(order, relevant))
        recall.append(recall_at(order, relevant))
    return 100 * float(np.mean(ndcg)), 100 * float(np.mean(recall))


def rrf_matrix(semantic: np.ndarray, lexical: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion (Cormack et al. 2009): ``sum 1/(k + rank)`` over the semantic ranking
    and the BM25 ranking of documents with a BM25 score above 0."""
    out = np.zeros(semantic.shape, dtype=np.float64)
    everything = np.ones(semantic.shape[1], dtype=bool)
    for q in range(len(semantic)):
        for scores, eligible in ((semantic[q], everything), (lexical[q], lexical[q] > 0)):
            order = top_k(scores, eligible, int(eligible.sum()))
            out[q, order] += 1.0 / (k + np.arange(1, len(order) + 1))
    return out


def weighted_sum(semantic: np.ndarray, lexical: np.ndarray, weight: float) -> np.ndarray:
    """``weight * minmax(semantic) + (1 - weight) * minmax(bm25)`` per query."""

    def minmax(m: np.ndarray) -> np.ndarray:
        low, high = m.min(axis=1, keepdims=True), m.max(axis=1, keepdims=True)
        return (m - low) / np.where(high > low, high - low, 1.0)

    return weight * minmax(semantic.astype(np.float64)) + (1 - weight) * minmax(lexical.astype(np.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--model", default=None, help="embedding model (default: all-MiniLM-L6-v2)")
    args = parser.parse_args()

    corpus = pq.read_table(args.data_dir / "retrieval_scifact_corpus.parquet").to_pylist()
    queries = pq.read_table(args.data_dir / "retrieval_scifact_queries.parquet").to_pylist()
    qrel_rows = pq.read_table(args.data_dir / "retrieval_scifact_qrels.parquet").to_pylist()
    doc_index = {row["doc_id"]: i for i, row in enumerate(corpus)}
    query_index = {row["query_id"]: i for i, row in enumerate(queries)}
    qrels: list[set[int]] = [set() for _ in queries]
    for row in qrel_rows:
        if row["score"] > 0:
            qrels[query_index[row["query_id"]]].add(doc_index[row["doc_id"]])
    docs = [f"{row['title']} {row['text']}" for row in corpus]
    texts = [row["text"] for row in queries]
    print(f"SciFact: {len(docs)} documents, {len(texts)} queries, {len(qrel_rows)} qrels")

    runtime = get_runtime(args.model, "cpu")
    cache = get_cache(True)
    started = time.perf_counter()
    before = runtime.snapshot().rows
    doc_vectors = embed_strings(docs, runtime, cache=cache)
    query_vectors = embed_strings(texts, runtime, cache=cache)
    print(f"embedding: {time.perf_counter() - started:.1f} s, {runtime.snapshot().rows - before} texts through the model")
    semantic = query_vectors @ doc_vectors.T

    started = time.perf_counter()
    lexical = bm25_matrix(docs, texts)
    print(f"BM25 (k1=1.5, b=0.75, stem + stopwords): {time.perf_counter() - started:.1f} s")
    variants = {
        "lexical, k1=1.2 (Anserini default)": bm25_matrix(docs, texts, k1=1.2),
        "lexical, k1=0.9, b=0.4 (Anserini BEIR tuning)": bm25_matrix(docs, texts, k1=0.9, b=0.4),
        "lexical, no stemming": bm25_matrix(docs, texts, stem=False),
        "lexical, no stopword removal": bm25_matrix(docs, texts, stopwords=False),
        "lexical, neither": bm25_matrix(docs, texts, stem=False, stopwords=False),
    }

    rows: list[tuple[str, float, float]] = []
    rows.append(("semantic (cosine)", *evaluate(semantic, qrels)))
    rows.append(("lexical (BM25 k1=1.5 b=0.75, stem + stopwords)", *evaluate(lexical, qrels)))
    for name, matrix in variants.items():
        rows.append((name, *evaluate(matrix, qrels)))
    fused = np.stack([hybrid(semantic[q], lexical[q]) for q in range(len(texts))])
    rows.append(("hybrid: min-max sum, w_semantic=0.5 (sqlml's hybrid)", *evaluate(fused, qrels)))
    for weight in (0.3, 0.7):
        rows.append((f"hybrid: min-max sum, w_semantic={weight}", *evaluate(weighted_sum(semantic, lexical, weight), qrels)))
    for k in (10, 60, 100):
        rows.append((f"hybrid: RRF k={k}", *evaluate(rrf_matrix(semantic, lexical, k), qrels)))

    print("\n| method | nDCG@10 | recall@100 |\n|---|---:|---:|")
    for name, ndcg, recall in rows:
        print(f"| {name} | {ndcg:.2f} | {recall:.2f} |")
    for name, (ndcg, recall) in PUBLISHED.items():
        print(f"| published: {name} | {ndcg:.2f} | {recall:.2f} |")


if __name__ == "__main__":
    main()
