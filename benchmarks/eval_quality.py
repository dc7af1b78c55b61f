"""One quality table over every corpus in ``../shared/data``: summaries and labels beside their peers (issue 21).

Summarization (ROUGE-1/2/L F1 × 100, ``rouge-score`` with the Porter stemmer, n = 3 sentences):
BBC News Summary and CNN/DM train 100. Peers: LEAD-3, naive k-means (k = n, nearest to centroid:
``eval_summarize.ABLATIONS[0]``), TextRank (word overlap, PageRank 0.85: ``eval_summarize.textrank``),
embedding-centrality ranking (one cluster per sentence), and sqlml's default ``summarize``
(``DEFAULT_RULE`` of the tree being measured). The peers' rules keep any newer ``SelectionRule`` knob
(position prior, boilerplate skipping, clusters ranked by score) at the plain method's value (:data:`NEUTRAL`). Sentences are split with sqlml's splitter and embedded once per document; every
embedding-based method reuses those vectors (``explain_vectors``, the code path of ``summarize``; the
script checks that ``sqlml.summarize`` returns the same summaries on the first ``--check`` test documents).

Classification (accuracy and macro-F1 × 100): BBC News categories, TREC-6, 20 Newsgroups, Reuters-R8,
emotion, Banking77. Every text is embedded once (``text_vectors``: what ``sqlml.classify`` and
``sqlml_train`` use; long texts = mean of sentence chunks) and all peers reuse the vectors:
zero-shot with the bare label name (template ``{label}``), zero-shot with sqlml's default template
(``DEFAULT_TEMPLATE``), and sqlml's logistic-regression head (``fit_logistic_regression``, C = 10, as
``train_classifier``) on frozen embeddings, trained on the whole (capped) train pool and on 8 rows per
label (mean of 5 seeds). The script checks ``sqlml.classify`` against the template row on ``--check`` rows.

Fixed splits (numpy ``default_rng``; "the first N" = the first N of that seeded order, so a smaller cap
is a subset of a larger one; selected rows are then used in file order):

* BBC News Summary (2,225): ``p = default_rng(0).permutation(2225)``. test = positions [0, 300) and
  [600, 1413) of ``p`` (1,113 articles); dev = positions [300, 600) and [1413, 2225) (1,112). So
  ``--max-docs 300`` is exactly eval_summarize.py's test sample (``--offset 0``) and dev sample
  (``--offset 300``). Classification on BBC: test = the first ``--max-test`` of the same test half; dev = the
  first ``--max-dev`` of the dev half; LR train pool = the rest of the dev half (the first ``--max-train``).
* CNN/DM train 100: ``p = default_rng(0).permutation(100)`` over the file's rows (sorted by id):
  test = ``p[:50]``, dev = ``p[50:]`` (each capped by ``--max-docs``). Also scored on all 100 (``all``), to compare with the README.
* TREC, 20 Newsgroups, Reuters-R8, Banking77: test = the test file (if larger than ``--max-test``, the
  first N of ``default_rng(0).permutation``); dev = the first ``--max-dev`` rows of
  ``default_rng(1).permutation`` of the train file; train pool = the next ``--max-train`` rows of that
  same order (dev rows are never trained on).
* emotion: test as above; dev = the first ``--max-dev`` of ``default_rng(1).permutation`` of the
  validation file; train pool = the first ``--max-train`` of ``default_rng(1).permutation`` of the train file.
* 8 per label: for seed in 0..4, ``rng = default_rng(seed)``; for each label in sorted order
  ``rng.choice(pool rows with that label, min(8, count), replace=False)`` (the data README's protocol,
  drawn from the capped train pool).

Label names: the ``label`` column (BBC: ``category``); Banking77's ``card_arrival`` style names get
spaces for underscores (what a user would type). Empty 20 Newsgroups texts are kept (standard split).

Noise: every number carries a 95 % percentile bootstrap interval over the scored documents/rows
(``--bootstrap`` resamples, default 1,000, ``default_rng(12345)``); the Δ column is a *paired* bootstrap
of the primary metric (ROUGE-2, or accuracy) against the reference peer (LEAD-3; bare-name zero-shot),
resampling the same rows for both. The 8-per-label rows also give the seed standard deviation.

Usage (repository root; ``--data`` defaults to ``../shared/data`` beside the repository)::

    PYTHONPATH=$PWD python benchmarks/eval_quality.py --max-docs 300 --max-test 1000 --max-dev 300 --max-train 2000
    PYTHONPATH=$PWD python benchmarks/eval_quality.py --corpora cnndm,trec --max-test 300

Writes ``quality.json`` and ``quality.md`` to ``benchmarks/results/<date>-<device>-quality/`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml

import sqlml  # noqa: E402
from eval_classify import head_predict  # noqa: E402
from eval_summarize import ABLATIONS, textrank  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.classify.core import DEFAULT_TEMPLATE, label_vectors, zero_shot_probabilities  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import DEFAULT_C  # noqa: E402
from sqlml.ops.embed import embed_strings  # noqa: E402
from sqlml.ops.sentences import split_sentences, split_texts  # noqa: E402
from sqlml.ops.summarize.pipeline import DEFAULT_RULE, SEED, SelectionRule, explain_vectors  # noqa: E402

SUMMARY_CORPORA = ("bbc_summary", "cnndm")
CLASSIFY_CORPORA = ("bbc_topics", "trec", "newsgroups20", "reuters_r8", "emotion", "banking77")
ALL_CORPORA = SUMMARY_CORPORA + CLASSIFY_CORPORA
SHOT_SEEDS = (0, 1, 2, 3, 4)
SHOTS = 8
BOOT_SEED = 12345
N = 3


# --------------------------------------------------------------------------------------------------
# Noise


def _ci(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def boot_indices(n: int, reps: int) -> np.ndarray:
    """``(reps, n)`` row indices drawn with replacement; the same draws serve every method of a split (paired)."""
    return np.random.default_rng(BOOT_SEED).integers(0, n, size=(reps, n))


def macro_f1_codes(true: np.ndarray, pred: np.ndarray, k: int) -> float:
    """sklearn's ``f1_score(average='macro')`` on integer codes: the mean over labels seen in true or pred."""
    tp = np.bincount(true[true == pred], minlength=k)
    t = np.bincount(true, minlength=k)
    p = np.bincount(pred, minlength=k)
    seen = (t + p) > 0
    return float(np.mean(2 * tp[seen] / (t[seen] + p[seen])))


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    corpus: str
    task: str  # "summarize" | "classify"
    split: str
    n: int
    method: str
    metrics: dict[str, float]  # point values × 100
    ci: dict[str, list[float]]  # 95 % bootstrap interval per metric
    delta: dict[str, Any] | None = None  # paired bootstrap of the primary metric vs the reference peer
    extra: dict[str, Any] = field(default_factory=dict)


def summary_rows(corpus: str, split: str, refs: list[str], cands: dict[str, list[str]], reference: str, reps: int) -> list[Row]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    per_doc = {}
    for method, texts in cands.items():
        scores = [scorer.score(ref, cand or "") for ref, cand in zip(refs, texts, strict=True)]
        per_doc[method] = 100 * np.array([[s[m].fmeasure for m in ("rouge1", "rouge2", "rougeL")] for s in scores])
    idx = boot_indices(len(refs), reps)
    rows = []
    for method, v in per_doc.items():
        boots = v[idx].mean(axis=1)  # (reps, 3)
        names = ("rouge1", "rouge2", "rougeL")
        row = Row(corpus, "summarize", split, len(refs), method, {m: float(x) for m, x in zip(names, v.mean(axis=0), strict=True)},
                  {m: _ci(boots[:, j]) for j, m in enumerate(names)})
        if method != reference:
            d = v[:, 1] - per_doc[reference][:, 1]
            row.delta = {"metric": "rouge2", "vs": reference, "value": float(d.mean()), "ci": _ci(d[idx].mean(axis=1))}
        rows.append(row)
    return rows


def classify_rows(corpus: str, split: str, true: np.ndarray, preds: dict[str, list[np.ndarray]], k: int, reference: str,
                  reps: int) -> list[Row]:
    """``preds[method]``: one or more prediction arrays (several = seeds; the numbers are their means)."""
    idx = boot_indices(len(true), reps)
    rows = []
    ref_correct = np.mean([(p == true) for p in preds[reference]], axis=0)  # a reference of several seeds: their mean, per row
    for method, runs in preds.items():
        acc = [100 * float((p == true).mean()) for p in runs]
        f1 = [100 * macro_f1_codes(true, p, k) for p in runs]
        boot_acc = np.mean([(p == true)[idx].mean(axis=1) for p in runs], axis=0) * 100
        boot_f1 = np.array([np.mean([macro_f1_codes(true[i], p[i], k) for p in runs]) for i in idx]) * 100
        row = Row(corpus, "classify", split, len(true), method, {"accuracy": float(np.mean(acc)), "macro_f1": float(np.mean(f1))},
                  {"accuracy": _ci(boot_acc), "macro_f1": _ci(boot_f1)})
        if len(runs) > 1:
            row.extra = {"seed_accuracy": acc, "seed_macro_f1": f1, "seed_sd_accuracy": float(np.std(acc)),
                         "seed_sd_macro_f1": float(np.std(f1))}
        if method != reference:
            d = np.mean([(p == true) for p in runs], axis=0) - ref_correct
            row.delta = {"metric": "accuracy", "vs": reference, "value": 100 * float(d.mean()), "ci": _ci(100 * d[idx].mean(axis=1))}
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# Splits


def first(order: np.ndarray, cap: int | None) -> np.ndarray:
    return order if cap is None else order[:cap]


def bbc_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(test, dev) row numbers of BBC News Summary in seeded order (see the module docstring)."""
    p = np.random.default_rng(0).permutation(n)
    return np.concatenate([p[:300], p[600:1413]]), np.concatenate([p[300:600], p[1413:]])


# --------------------------------------------------------------------------------------------------
# Summarization


#: Knobs a later tree may add to :class:`SelectionRule`, switched off for the peers (their rows stay the plain method).
NEUTRAL = {"position_weight": 0.0, "skip_boilerplate": False, "rank_by_size": True}


def peer_rule(rule: SelectionRule) -> SelectionRule:
    """``rule`` with any extra knob of this tree's :class:`SelectionRule` at its neutral value."""
    names = {f.name for f in dataclasses.fields(SelectionRule)}
    return dataclasses.replace(rule, **{k: v for k, v in NEUTRAL.items() if k in names})


def summarize_corpus(name: str, data: Path, runtime: Any, args: argparse.Namespace, log: Callable[[str], None]) -> tuple[list[Row], dict]:
    if name == "bbc_summary":
        table = pq.read_table(data / "bbc_news_summary.parquet").to_pydict()
        bodies, refs = table["body"], table["summary"]
        test, dev = bbc_halves(len(bodies))
        splits = {"test": np.sort(first(test, args.max_docs)), "dev": np.sort(first(dev, args.max_docs))}
        label = "BBC News Summary"
    else:
        table = pq.read_table(data / "cnndm_train100.parquet").to_pydict()
        order = np.argsort(table["id"], kind="stable")
        bodies, refs = [table["article"][i] for i in order], [table["highlights"][i] for i in order]
        p = np.random.default_rng(0).permutation(len(bodies))
        splits = {"test": np.sort(first(p[:50], args.max_docs)), "dev": np.sort(first(p[50:], args.max_docs)),
                  "all": np.arange(len(bodies))}
        label = "CNN/DM train 100"
    wanted = np.unique(np.concatenate(list(splits.values())))
    started = time.perf_counter()
    texts = [bodies[i] for i in wanted]
    batch = split_texts(texts)
    flat = embed_strings(batch.sentences, runtime)
    seconds = time.perf_counter() - started
    log(f"{label}: {len(texts)} documents, {len(batch.sentences)} sentences embedded in {seconds:.0f} s")
    sentences = [split_sentences(t) for t in texts]
    offsets = batch.offsets
    assert all(len(s) == stop - start for s, start, stop in zip(sentences, offsets[:-1], offsets[1:], strict=True))

    def joined(picks: list[list[int]]) -> list[str]:
        return [" ".join(s[i].text for i in sorted(p)) for s, p in zip(sentences, picks, strict=True)]

    def rule_picks(rule: SelectionRule) -> list[list[int]]:
        selected = explain_vectors(batch, flat, [N] * len(texts), rule, SEED).selected  # type: ignore[arg-type]
        return [np.flatnonzero(selected[a:b]).tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    naive_rule = peer_rule(ABLATIONS[0][1])
    methods = {
        "LEAD-3": joined([list(range(min(N, len(s)))) for s in sentences]),
        "naive k-means (k = n, nearest to centroid)": joined(rule_picks(naive_rule)),
        "TextRank (word overlap, PageRank 0.85)": joined([textrank(s, N) for s in sentences]),
        "centrality ranking (embeddings, no clustering)": joined(rule_picks(peer_rule(SelectionRule(1e9, 1.0)))),
        "**sqlml summarize (default)**": explain_vectors(batch, flat, [N] * len(texts), DEFAULT_RULE, SEED).summaries().to_pylist(),  # type: ignore[arg-type]
    }
    position = {int(r): j for j, r in enumerate(wanted)}
    rows = []
    for split, ids in splits.items():
        js = [position[int(i)] for i in ids]
        rows += summary_rows(name, split, [refs[i] for i in ids], {m: [v[j] for j in js] for m, v in methods.items()}, "LEAD-3",
                             args.bootstrap)
    # What users get: sqlml.summarize end to end on the first test documents equals the default row.
    check_ids = [position[int(i)] for i in splits["test"][: args.check]]
    direct = sqlml.summarize([texts[j] for j in check_ids], n=N, device="cpu")
    same = sum(d == methods["**sqlml summarize (default)**"][j] for d, j in zip(direct, check_ids, strict=True))
    info = {"label": label, "documents": {k: len(v) for k, v in splits.items()}, "sentences_embedded": len(batch.sentences),
            "embed_seconds": round(seconds, 1), "sqlml_summarize_check": f"{same}/{len(check_ids)} identical"}
    log(f"{label}: sqlml.summarize == default row on {same}/{len(check_ids)} test documents")
    return rows, info


# --------------------------------------------------------------------------------------------------
# Classification

FILES = {  # corpus: (label, test file, dev/train files, text column, label column)
    "bbc_topics": ("BBC News categories", None, None, "body", "category"),
    "trec": ("TREC-6", "trec_test", "trec_train", "text", "label"),
    "newsgroups20": ("20 Newsgroups", "newsgroups20_test", "newsgroups20_train", "text", "label"),
    "reuters_r8": ("Reuters-R8", "reuters_r8_test", "reuters_r8_train", "text", "label"),
    "emotion": ("emotion", "emotion_test", "emotion_train", "text", "label"),
    "banking77": ("Banking77", "banking77_test", "banking77_train", "text", "label"),
}


def read(data: Path, stem: str, text: str, label: str) -> tuple[list[str], list[str]]:
    t = pq.read_table(data / f"{stem}.parquet", columns=[text, label]).to_pydict()
    return t[text], t[label]


def classify_splits(name: str, data: Path, args: argparse.Namespace) -> dict[str, tuple[list[str], list[str]]]:
    """{"test" | "dev" | "train": (texts, labels)} by the module docstring's rules."""
    _, test_file, train_file, text, label = FILES[name]
    if name == "bbc_topics":
        x, y = read(data, "bbc_news_summary", text, label)
        test, dev = bbc_halves(len(x))
        parts = {"test": first(test, args.max_test), "dev": first(dev, args.max_dev),
                 "train": first(dev[len(first(dev, args.max_dev)) :], args.max_train)}
        return {k: ([x[i] for i in np.sort(v)], [y[i] for i in np.sort(v)]) for k, v in parts.items()}
    out = {}
    x, y = read(data, test_file, text, label)
    rows = np.sort(first(np.random.default_rng(0).permutation(len(x)), args.max_test))
    out["test"] = ([x[i] for i in rows], [y[i] for i in rows])
    tx, ty = read(data, train_file, text, label)
    order = np.random.default_rng(1).permutation(len(tx))
    if name == "emotion":
        vx, vy = read(data, "emotion_validation", text, label)
        rows = np.sort(first(np.random.default_rng(1).permutation(len(vx)), args.max_dev))
        out["dev"] = ([vx[i] for i in rows], [vy[i] for i in rows])
        pool = first(order, args.max_train)
    else:
        dev = first(order, args.max_dev)
        out["dev"] = ([tx[i] for i in np.sort(dev)], [ty[i] for i in np.sort(dev)])
        pool = first(order[len(dev) :], args.max_train)
    pool = np.sort(pool)
    out["train"] = ([tx[i] for i in pool], [ty[i] for i in pool])
    return out


def shot_rows(y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == lab), min(SHOTS, int((y == lab).sum())), replace=False) for lab in sorted(set(y.tolist()))]
    return np.sort(np.concatenate(picks))


def classify_corpus(name: str, data: Path, runtime: Any, args: argparse.Namespace, log: Callable[[str], None]) -> tuple[list[Row], dict]:
    label = FILES[name][0]
    splits = classify_splits(name, data, args)
    readable = (lambda s: s.replace("_", " ")) if name == "banking77" else (lambda s: s)
    names = tuple(sorted(set(splits["train"][1]) | set(splits["test"][1]) | set(splits["dev"][1])))
    code = {lab: i for i, lab in enumerate(names)}
    started = time.perf_counter()
    vec = {k: text_vectors(list(v[0]), runtime) for k, v in splits.items()}
    seconds = time.perf_counter() - started
    log(f"{label}: {sum(len(v[0]) for v in splits.values())} texts embedded in {seconds:.0f} s "
        f"(test {len(splits['test'][0])}, dev {len(splits['dev'][0])}, train pool {len(splits['train'][0])})")
    y = {k: np.array([code[lab] for lab in v[1]]) for k, v in splits.items()}
    shown = tuple(readable(n) for n in names)
    bare = label_vectors(shown, "{label}", runtime)
    templ = label_vectors(shown, DEFAULT_TEMPLATE, runtime)
    started = time.perf_counter()
    full = {k: head_predict(vec["train"], y["train"], vec[k], DEFAULT_C) for k in ("test", "dev")}
    shots: dict[str, list[np.ndarray]] = {"test": [], "dev": []}
    for seed in SHOT_SEEDS:
        rows = shot_rows(y["train"], seed)
        for k in shots:
            shots[k].append(head_predict(vec["train"][rows], y["train"][rows], vec[k], DEFAULT_C))
    fit_seconds = time.perf_counter() - started
    out = []
    for k in ("test", "dev"):
        preds = {
            "zero-shot, bare label name": [np.argmax(zero_shot_probabilities(vec[k], bare), axis=1)],
            f"**zero-shot, sqlml default template** `{DEFAULT_TEMPLATE}`": [np.argmax(zero_shot_probabilities(vec[k], templ), axis=1)],
            f"LR head (sqlml, C={DEFAULT_C:g}), train pool ({len(y['train']):,})": [full[k].astype(np.int64)],
            f"LR head, {SHOTS} per label (mean of {len(SHOT_SEEDS)} seeds)": [p.astype(np.int64) for p in shots[k]],
        }
        out += classify_rows(name, k, y[k], preds, len(names), "zero-shot, bare label name", args.bootstrap)
    # What users get: sqlml.classify with the default template equals the template row.
    texts = list(splits["test"][0][: args.check])
    direct = sqlml.classify(texts, labels=list(shown), device="cpu")
    mine = [shown[i] for i in np.argmax(zero_shot_probabilities(vec["test"][: args.check], templ), axis=1)]
    same = sum(a == b for a, b in zip(direct, mine, strict=True))
    log(f"{label}: sqlml.classify == template row on {same}/{len(texts)} test texts; LR fits {fit_seconds:.0f} s")
    info = {"label": label, "labels": len(names), "label_names": list(shown), "rows": {k: len(v[0]) for k, v in splits.items()},
            "embed_seconds": round(seconds, 1), "fit_seconds": round(fit_seconds, 1),
            "sqlml_classify_check": f"{same}/{len(texts)} identical"}
    return out, info


# --------------------------------------------------------------------------------------------------
# Output


def fmt(value: float, ci: list[float]) -> str:
    return f"{value:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"


def table(rows: list[Row], infos: dict[str, dict], split: str) -> list[str]:
    lines = [
        "| corpus | split (n) | method | ROUGE-1 / accuracy | ROUGE-2 / macro-F1 | ROUGE-L | Δ primary vs peer (paired) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.split != split:
            continue
        label = infos[r.corpus]["label"]
        if r.task == "summarize":
            cells = [fmt(r.metrics[m], r.ci[m]) for m in ("rouge1", "rouge2", "rougeL")]
        else:
            cells = [fmt(r.metrics[m], r.ci[m]) for m in ("accuracy", "macro_f1")] + [""]
        method = r.method + (f" (seed sd {r.extra['seed_sd_accuracy']:.1f})" if r.extra else "")
        delta = "" if r.delta is None else f"{r.delta['value']:+.1f} [{r.delta['ci'][0]:+.1f}, {r.delta['ci'][1]:+.1f}]"
        lines.append(f"| {label} | {split} ({r.n:,}) | {method} | " + " | ".join(cells) + f" | {delta} |")
    return lines


def device_name() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"CPU ({model}, {os.cpu_count()} cores), fp32, all-MiniLM-L6-v2 (sqlml default model)"


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data", help="the shared data folder (default ../shared/data)")
    parser.add_argument("--corpora", default="all", help=f"comma-separated subset of {','.join(ALL_CORPORA)} (default all)")
    parser.add_argument("--max-docs", type=int, default=None, help="cap per summarization test and dev split (seeded; default: whole split)")
    parser.add_argument("--max-test", type=int, default=None, help="cap per classification test split (seeded sample; default: whole split)")
    parser.add_argument("--max-dev", type=int, default=300, help="cap per classification dev split (seeded sample; default 300)")
    parser.add_argument("--max-train", type=int, default=None, help="cap on each classification train pool (seeded sample)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per number (default 1000)")
    parser.add_argument("--check", type=int, default=10, help="test rows re-run through sqlml.summarize / sqlml.classify")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default benchmarks/results/<date>-cpu-quality)")
    args = parser.parse_args()
    corpora = ALL_CORPORA if args.corpora == "all" else tuple(c.strip() for c in args.corpora.split(","))
    unknown = sorted(set(corpora) - set(ALL_CORPORA))
    if unknown:
        parser.error(f"unknown corpora {unknown}; choose from {', '.join(ALL_CORPORA)}")
    out_dir = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-quality"
    command = "PYTHONPATH=$PWD python benchmarks/eval_quality.py " + " ".join(sys.argv[1:])
    started = time.perf_counter()
    log_lines: list[str] = []

    def log(line: str) -> None:
        stamp = f"[{time.perf_counter() - started:6.0f} s] {line}"
        log_lines.append(stamp)
        print(stamp, file=sys.stderr, flush=True)

    runtime = get_runtime(None, "cpu")
    rows: list[Row] = []
    infos: dict[str, dict] = {}
    for name in corpora:
        part, info = (summarize_corpus if name in SUMMARY_CORPORA else classify_corpus)(name, args.data, runtime, args, log)
        rows += part
        infos[name] = info
    seconds = time.perf_counter() - started
    caps = f"--max-docs {args.max_docs}, --max-test {args.max_test}, --max-dev {args.max_dev}, --max-train {args.max_train} (None = whole split)"
    header = [
        f"Command: `{command}`",
        f"Device: {device_name()}; run time {seconds:.0f} s.",
        f"Caps: {caps}. Corpora: {', '.join(corpora)}.",
        "Splits: fixed and seeded (rules in the script's docstring and in quality.json). Summaries: n = 3, rouge-score F1 × 100 with the "
        "stemmer. Classification: accuracy and macro-F1 × 100.",
        f"Noise: [95 % percentile bootstrap interval over the scored documents/rows, {args.bootstrap} resamples]; "
        "Δ = paired bootstrap of ROUGE-2 vs LEAD-3 (summaries) or accuracy vs bare-name zero-shot (classification).",
        "",
    ]
    md = header + ["### Test splits", ""] + table(rows, infos, "test") + ["", "### Dev splits", ""] + table(rows, infos, "dev")
    if any(r.split == "all" for r in rows):
        md += ["", "### CNN/DM, all 100 (comparable with the data README's LEAD-3 12.23 / naive 11.07)", ""] + table(rows, infos, "all")
    md += ["", "Checks and timings:", ""] + [f"- {line}" for line in log_lines]
    print("\n".join(md))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.md").write_text("\n".join(md) + "\n")
    split_rules = __doc__.split("Fixed splits", 1)[1].split("Label names:", 1)[0]
    payload = {
        "command": command, "device": device_name(), "seconds": round(seconds, 1), "date": datetime.date.today().isoformat(),
        "caps": {"max_docs": args.max_docs, "max_test": args.max_test, "max_dev": args.max_dev, "max_train": args.max_train},
        "split_rules": "Fixed splits" + split_rules.rstrip(),
        "noise": {"method": "percentile bootstrap over scored rows/documents, 95 %", "resamples": args.bootstrap, "seed": BOOT_SEED,
                  "delta": "paired bootstrap of the primary metric vs the reference peer"},
        "summarize_n": N, "shot_seeds": list(SHOT_SEEDS), "shots_per_label": SHOTS, "head_c": DEFAULT_C, "template": DEFAULT_TEMPLATE,
        "corpora": infos, "log": log_lines,
        "rows": [r.__dict__ for r in rows],
    }
    (out_dir / "quality.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nwrote {out_dir / 'quality.json'} and quality.md", file=sys.stderr)


if __name__ == "__main__":
    main()
