"""ROUGE of sqlml.summarize against the BBC News Summary references, beside LEAD, random and TextRank.

Articles: a seeded sample (``numpy.random.default_rng(0).permutation``) of the 2,225; ``--offset 0``
(default) is the test sample reported in ``docs/summarize.md``, ``--offset 300`` the disjoint dev sample
the selection rule was tuned on. Two lengths: ``n = 3``, and ``n = k`` = the reference summary's
sentence count (per article, so every method outputs as many sentences as the reference).

sqlml's rows use the project's own code path: ``split_texts`` → ``embed_strings`` (runtime, default
model, CPU) → ``explain_vectors`` (batched k-means + selection), i.e. what ``summarize`` runs; the script
checks that ``summarize_array`` gives the same summaries on the first articles. Ablations reuse the same
sentence vectors with other :class:`SelectionRule` settings. ROUGE: ``rouge-score``, F1, Porter stemmer.

    python benchmarks/eval_summarize.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.embed import embed_strings  # noqa: E402
from sqlml.ops.sentences import Sentence, split_sentences, split_texts  # noqa: E402
from sqlml.ops.summarize.kmeans import kmeans_batched  # noqa: E402
from sqlml.ops.summarize.pipeline import DEFAULT_RULE, SEED, SelectionRule, cluster_count, distinct_counts, explain_vectors, summarize_array  # noqa: E402
from tests.support.kmeans_reference import kmeans_sklearn  # noqa: E402


def plain(clusters_per_sentence: float, centrality_weight: float) -> SelectionRule:
    """A rule without the later knobs (no position prior, no boilerplate skipping, clusters ranked by size)."""
    return SelectionRule(clusters_per_sentence, centrality_weight, 0.0, False, rank_by_size=True)


ABLATIONS: list[tuple[str, SelectionRule]] = [
    ("naive k-means (k = n, nearest to centroid)", plain(1.0, 0.0)),
    ("k = n, + document centrality in the score", plain(1.0, 1.0)),
    ("k = 2n, n largest clusters, nearest to centroid", plain(2.0, 0.0)),
    ("k = 2n, n largest clusters, + centrality (the default until issue 21)", plain(2.0, 1.0)),
    ("**sqlml default**: k = 3n, + centrality, + position prior λ(m)·(1 − p/m), clusters by score, boilerplate skipped", DEFAULT_RULE),
    ("k = 3n, n largest clusters, + centrality", plain(3.0, 1.0)),
    ("no clustering: one cluster per sentence = centrality ranking", plain(1e9, 1.0)),
]


def textrank(sentences: list[Sentence], k: int) -> list[int]:
    """Classic TextRank (Mihalcea & Tarau 2004): word-overlap graph, PageRank d=0.85; top k positions."""
    words = [set(re.findall(r"\w+", s.text.lower())) for s in sentences]
    m = len(words)
    w = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            if len(words[i]) > 1 and len(words[j]) > 1:
                w[i, j] = w[j, i] = len(words[i] & words[j]) / (math.log(len(words[i])) + math.log(len(words[j])))
    out = w.sum(axis=1)
    transition = np.divide(w, out[:, None], out=np.full_like(w, 1.0 / m), where=out[:, None] > 0)
    rank = np.full(m, 1.0 / m)
    for _ in range(100):
        new = 0.15 / m + 0.85 * transition.T @ rank
        if np.abs(new - rank).sum() < 1e-8:
            break
        rank = new
    return sorted(np.argsort(-rank, kind="stable")[:k].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--offset", type=int, default=0, help="start in the seeded permutation (300 = the dev sample)")
    parser.add_argument("--check", type=int, default=20, help="articles re-run end to end through summarize_array")
    args = parser.parse_args()

    from rouge_score import rouge_scorer

    rows = pq.read_table(args.data_dir / "bbc_news_summary.parquet").to_pylist()
    order = np.random.default_rng(0).permutation(len(rows))[args.offset : args.offset + args.articles]
    rows = [rows[i] for i in order]
    split = [split_sentences(r["body"]) for r in rows]
    batch = split_texts([r["body"] for r in rows])
    ref_len = [len(split_sentences(r["summary"])) for r in rows]
    runtime = get_runtime(None, "cpu")
    started = time.perf_counter()
    flat = embed_strings(batch.sentences, runtime)
    vectors = [flat[start:stop] for start, stop in zip(batch.offsets[:-1], batch.offsets[1:], strict=True)]
    print(f"{len(rows)} articles, {sum(map(len, split))} sentences embedded in {time.perf_counter() - started:.0f} s (CPU)")
    print(f"mean sentences: article {np.mean([len(s) for s in split]):.1f}, reference summary {np.mean(ref_len):.2f}\n")

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)

    def score(picks: list[list[int]]) -> tuple[float, float, float, float]:
        values = []
        for r, sentences, chosen in zip(rows, split, picks, strict=True):
            result = scorer.score(r["summary"], " ".join(sentences[p].text for p in sorted(chosen)))
            values.append([result[m].fmeasure for m in ("rouge1", "rouge2", "rougeL")])
        r1, r2, rl = (100 * np.mean(values, axis=0)).tolist()
        return r1, r2, rl, float(np.mean([len(p) for p in picks]))

    def sqlml_picks(rule: SelectionRule, ns: list[int]) -> list[list[int]]:
        selected = explain_vectors(batch, flat, ns, rule, SEED).selected  # type: ignore[arg-type]
        return [np.flatnonzero(selected[start:stop]).tolist() for start, stop in zip(batch.offsets[:-1], batch.offsets[1:], strict=True)]

    rng = np.random.default_rng(SEED)
    random_k = [sorted(rng.choice(len(s), min(k, len(s)), replace=False).tolist()) for s, k in zip(split, ref_len, strict=True)]
    lengths = {"n = 3": [3] * len(rows), "n = k (reference length)": ref_len}
    for label, ns in lengths.items():
        print(f"### {label}\n\n| method | ROUGE-1 | ROUGE-2 | ROUGE-L | sentences |\n|---|---:|---:|---:|---:|")
        table: list[tuple[str, list[list[int]]]] = [
            ("LEAD-n", [list(range(min(n, len(s)))) for s, n in zip(split, ns, strict=True)]),
            ("random-n (seed 0)", random_k if ns is ref_len else [sorted(rng.choice(len(s), min(3, len(s)), replace=False).tolist()) for s in split]),
            ("TextRank (word overlap, PageRank 0.85)", [textrank(s, n) for s, n in zip(split, ns, strict=True)]),
        ]
        table += [(name, sqlml_picks(rule, ns)) for name, rule in ABLATIONS]
        for name, picks in table:
            print("| {} | {:.1f} | {:.1f} | {:.1f} | {:.2f} |".format(name, *score(picks)))
        print()

    # The eval measures what users get: summarize_array end to end equals the default rule's rows above.
    texts = pa.array([r["body"] for r in rows[: args.check]])
    direct = summarize_array(texts, 3, runtime).to_pylist()
    via = explain_vectors(batch, flat, [3] * len(rows), DEFAULT_RULE, SEED).summaries().to_pylist()[: args.check]  # type: ignore[arg-type]
    same = sum(d == e for d, e in zip(direct, via, strict=True))
    print(f"summarize_array end to end == eval rows: {same}/{args.check} articles")

    # Batched torch k-means vs scikit-learn KMeans per article (same init, same seed), n = 3 and n = k.
    for label, ns in lengths.items():
        ks = cluster_count(np.array(ns), distinct_counts(flat, batch.offsets), DEFAULT_RULE).tolist()
        sets = [np.asarray(v, dtype=np.float64) for v in vectors]
        t0 = time.perf_counter()
        batched = kmeans_batched(sets, ks, SEED)
        t1 = time.perf_counter()
        reference = [kmeans_sklearn(x, k, SEED) for x, k in zip(sets, ks, strict=True)]
        t2 = time.perf_counter()
        equal = sum(np.array_equal(a, b) for a, b in zip(batched, reference, strict=True))
        print(f"k-means {label}: identical labels {equal}/{len(sets)}; batched torch {t1 - t0:.2f} s, scikit-learn per article {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
