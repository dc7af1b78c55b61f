"""Trained heads with word features (issue 21 item 4): LR over [2 · embedding ⊕ TF-IDF word 1–2-grams] against LR
over the embedding alone, on the dev and test splits of six corpora, 8 per label and the 2,000-row pool, plus
Banking77 on its whole train file.

Both heads are sqlml's own code: ``fit_logistic_regression`` (C = 10, seed 0) over ``head_inputs(x, words, texts)``
with ``WordFeatures.fit`` on the head's training texts (``sqlml/models/words.py``; ``words=None`` for the embedding
head), as ``train_classifier`` stores them (its temperature does not move a prediction). Embeddings are
``text_vectors`` of all-MiniLM-L6-v2 (sentence-chunk mean beyond the window), cached under ``--cache``.

Splits: ``eval_quality.classify_splits`` with ``--max-test 1000 --max-dev 300 --max-train 2000`` (its docstring
has the seeded rules), 8 per label = ``eval_quality.shot_rows`` for seeds 0–4 (numbers are the means of the five
heads). Banking77 whole train: (a) every train row except the 300 dev rows against the same 1,000 test rows,
(b) the data README's protocol: all 10,003 train rows against all 3,080 test rows, (c) MTEB's protocol as
``eval_classify.mteb_protocol`` draws it (10 × 8 rows per label, all test rows; numbers are the means). Noise: 95 % percentile
bootstrap over test rows and a paired bootstrap of Δ accuracy (words − embedding), 1,000 resamples
(``eval_quality.classify_rows``).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_head_words.py [--corpora trec,emotion,...]

Writes ``head_words.json`` and ``head_words.md`` to ``--out`` (default ``benchmarks/results/<date>-cpu-head-words/``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import eval_quality as eq  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.models.words import WordFeatures, head_inputs  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import DEFAULT_C, fit_logistic_regression  # noqa: E402

HEADS = ("LR, embedding", "LR, embedding + words")
SEEDS = range(5)


def predict(with_words: bool, x: np.ndarray, texts: list[str], y: np.ndarray, x_test: np.ndarray, test_texts: list[str]) -> np.ndarray:
    """Label codes of the test rows by a head fitted on ``x``/``texts``/``y`` (codes)."""
    words = WordFeatures.fit(texts) if with_words else None
    coef, intercept = fit_logistic_regression(head_inputs(x, words, texts), y, DEFAULT_C, 0)
    classes = np.array(sorted(set(y.tolist())))
    scores = np.asarray(head_inputs(x_test, words, test_texts) @ coef.T.astype(np.float64)) + intercept
    return classes[np.argmax(scores, axis=1)]


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--corpora", default="all")
    parser.add_argument("--cache", type=Path, default=root / ".bench-data" / "vectors-words")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    corpora = list(eq.FILES) if args.corpora == "all" else args.corpora.split(",")
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-head-words"
    out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    caps = argparse.Namespace(max_test=1000, max_dev=300, max_train=2000)
    runtime = get_runtime(device="cpu")
    started = time.perf_counter()

    def vectors(name: str, split: str, texts: list[str]) -> np.ndarray:
        path = args.cache / f"{name}-{split}.npy"
        if path.exists():
            return np.load(path)
        v = text_vectors(texts, runtime)
        np.save(path, v)
        print(f"[{time.perf_counter() - started:5.0f} s] embedded {name} {split} ({len(texts)} texts)", file=sys.stderr, flush=True)
        return v

    rows: list[eq.Row] = []
    infos = {name: {"label": eq.FILES[name][0]} for name in corpora}
    timings: dict[str, float] = {}
    for name in corpora:
        splits = eq.classify_splits(name, args.data, caps)
        classes = sorted(set(splits["train"][1]) | set(splits["test"][1]) | set(splits["dev"][1]))
        code = {label: i for i, label in enumerate(classes)}
        x = {s: vectors(name, s, splits[s][0]) for s in ("train", "dev", "test")}
        y = {s: np.array([code[label] for label in splits[s][1]]) for s in splits}
        pool_texts = splits["train"][0]
        for split in ("dev", "test"):
            for regime in ("8 per label", "pool"):
                preds: dict[str, list[np.ndarray]] = {}
                for with_words, head in zip((False, True), HEADS, strict=True):
                    begun = time.perf_counter()
                    draws = [eq.shot_rows(y["train"], seed) for seed in SEEDS] if regime == "8 per label" else [np.arange(len(y["train"]))]
                    preds[head] = [predict(with_words, x["train"][r], [pool_texts[i] for i in r], y["train"][r], x[split], splits[split][0])
                                   for r in draws]
                    timings[f"{name} {split} {regime} {head}"] = round((time.perf_counter() - begun) / len(draws), 2)
                for row in eq.classify_rows(name, split, y[split], preds, len(classes), HEADS[0], args.bootstrap):
                    row.method = f"{row.method}, {regime}" + (f" ({len(pool_texts):,} rows)" if regime == "pool" else "")
                    rows.append(row)
                    print(f"{name} {split} {row.method}: {row.metrics['accuracy']:.1f}"
                          + (f" Δ {row.delta['value']:+.1f} [{row.delta['ci'][0]:+.1f}, {row.delta['ci'][1]:+.1f}]" if row.delta else ""), flush=True)
        if name == "banking77":
            rows += banking77_whole(args, splits, vectors, code, caps)
    write(out, rows, infos, timings, " ".join(sys.argv[1:]), time.perf_counter() - started)


def banking77_whole(args: argparse.Namespace, splits: dict, vectors, code: dict[str, int], caps: argparse.Namespace) -> list[eq.Row]:  # type: ignore[no-untyped-def]
    """Banking77 on its whole train file: (a) minus the dev rows vs the capped test rows; (b) all rows vs all test rows."""
    train_texts, train_labels = eq.read(args.data, "banking77_train", "text", "label")
    test_texts, test_labels = eq.read(args.data, "banking77_test", "text", "label")
    x_train, x_all_test = vectors("banking77", "train-file", train_texts), vectors("banking77", "test-file", test_texts)
    y_train = np.array([code[label] for label in train_labels])
    y_all_test = np.array([code[label] for label in test_labels])
    dev = set(eq.first(np.random.default_rng(1).permutation(len(train_texts)), caps.max_dev).tolist())
    minus_dev = np.array([i for i in range(len(train_texts)) if i not in dev])
    test_rows = np.sort(eq.first(np.random.default_rng(0).permutation(len(test_texts)), caps.max_test))
    out = []
    for label, train_rows, tests in (("train file minus dev", minus_dev, test_rows), ("whole train file", np.arange(len(train_texts)), np.arange(len(test_texts)))):
        preds = {head: [predict(with_words, x_train[train_rows], [train_texts[i] for i in train_rows], y_train[train_rows],
                                x_all_test[tests], [test_texts[i] for i in tests])]
                 for with_words, head in zip((False, True), HEADS, strict=True)}
        for row in eq.classify_rows("banking77", "test", y_all_test[tests], preds, len(code), HEADS[0], args.bootstrap):
            row.method = f"{row.method}, {label} ({len(train_rows):,} rows)"
            out.append(row)
            print(f"banking77 {row.method}: {row.metrics['accuracy']:.2f}", flush=True)
    # MTEB's protocol (eval_classify.mteb_protocol's draws: 10 experiments of 8 rows per label, all 3,080 test rows)
    mteb: dict[str, list[np.ndarray]] = {head: [] for head in HEADS}
    order, rng = np.arange(len(train_texts)), np.random.RandomState(42)
    for _ in range(10):
        rng.shuffle(order)
        chosen = first_per_label(order, y_train, 8)
        for with_words, head in zip((False, True), HEADS, strict=True):
            mteb[head].append(predict(with_words, x_train[chosen], [train_texts[i] for i in chosen], y_train[chosen], x_all_test, test_texts))
    for row in eq.classify_rows("banking77", "test", y_all_test, mteb, len(code), HEADS[0], args.bootstrap):
        row.method = f"{row.method}, MTEB protocol (10 × 8 per label)"
        out.append(row)
        print(f"banking77 {row.method}: {row.metrics['accuracy']:.2f} (sd {row.extra['seed_sd_accuracy']:.2f})", flush=True)
    return out


def first_per_label(order: np.ndarray, y: np.ndarray, per_label: int) -> np.ndarray:
    """The first ``per_label`` rows of each label in ``order`` (MTEB's undersampling), in that order."""
    taken: dict[int, int] = {}
    chosen = []
    for i in order:
        if taken.get(y[i], 0) < per_label:
            taken[y[i]] = taken.get(y[i], 0) + 1
            chosen.append(i)
    return np.array(chosen)


def write(out: Path, rows: list[eq.Row], infos: dict, timings: dict[str, float], argv: str, seconds: float) -> None:
    command = f"PYTHONPATH=$PWD python benchmarks/eval_head_words.py {argv}".strip()
    payload = {"command": command, "device": eq.device_name(), "seconds": round(seconds, 1), "rows": [r.__dict__ for r in rows],
               "fit_seconds_per_head": timings}
    (out / "head_words.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [f"Command: `{command}`; {eq.device_name()}; {seconds:.0f} s.", ""]
    for split in ("test", "dev"):
        lines += [f"### {split}", "", *eq.table(rows, infos, split), ""]
    (out / "head_words.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
