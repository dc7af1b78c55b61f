"""Quality of sqlml's classifiers on Banking77 and BBC News (writes the tables of docs/classify.md).

Every text is embedded once per run with the default model (all-MiniLM-L6-v2) through sqlml's own
runtime and ``text_vectors``; every protocol below reuses those embeddings.

* Banking77 (10,003 train / 3,080 test, 77 intents): a trained head (logistic regression) on the full
  train set → test accuracy and macro-F1; and MTEB's protocol (10 experiments, 8 train samples per label
  drawn with numpy seed 42, logistic regression with sklearn defaults, C=1, max_iter=100) → mean ± std.
* BBC News (2,225 articles, 5 categories): zero-shot accuracy for several prompt templates, with long
  articles truncated at the model window vs. embedded as a mean of sentence chunks; the same on the
  500-article sample (seed 0) the issue quotes; calibration of the softmax temperature; trained-head
  accuracy on a fixed stratified 80/20 split (seed 0).

Usage (from the repository root; 2-core CPU: about 10 minutes, most of it embedding BBC):
    PYTHONPATH=$PWD python benchmarks/eval_classify.py [--data-dir ../shared/data] [--cache-dir /tmp/cls-cache]

``--cache-dir`` keeps the embeddings as .npy files so a re-run skips the embedding step.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

from sqlml.engine.runtime import Runtime, get_runtime  # noqa: E402
from sqlml.ops.classify.core import label_vectors, zero_shot_probabilities  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import DEFAULT_C, fit_logistic_regression  # noqa: E402
from sqlml.ops.embed import embed_strings  # noqa: E402

BBC_LABELS = ("business", "entertainment", "politics", "sport", "tech")
TEMPLATES = {
    "bare label": "{label}",  # the label name alone
    "This text is about {label}. (the default)": "This text is about {label}.",
    "This article is about {label}.": "This article is about {label}.",
    "A news article about {label}.": "A news article about {label}.",
}
ENSEMBLE = ("This text is about {label}.", "This article is about {label}.", "A news article about {label}.")
DESCRIPTIONS = {
    "business": "business, economy, companies and markets",
    "entertainment": "entertainment, film, music and celebrities",
    "politics": "politics, government and elections",
    "sport": "sport, football, tennis and athletics",
    "tech": "technology, computers, the internet and gadgets",
}


def cached(cache: Path | None, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """``compute()`` or its saved copy; returns (array, seconds spent computing, 0 if loaded)."""
    file = cache / f"{key}.npy" if cache else None
    if file is not None and file.exists():
        return np.load(file, allow_pickle=False), 0.0
    start = time.perf_counter()
    value = compute()
    seconds = time.perf_counter() - start
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, value, allow_pickle=False)
    return value, seconds


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


def head_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, c: float) -> np.ndarray:
    """Fit sqlml's head (as ``train_classifier`` does) and predict labels for ``x_test``."""
    coef, intercept = fit_logistic_regression(x_train, y_train, c, 0)
    classes = np.array(sorted(set(y_train.tolist())), dtype=object)
    return classes[np.argmax(x_test @ coef.T + intercept, axis=1)]


def mteb_protocol(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, c: float, max_iter: int) -> list[float]:
    """MTEB AbsTaskClassification: 10 experiments, 8 samples per label, one index array reshuffled by seed 42."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(42)
    idxs = np.arange(len(y_train))
    scores = []
    for _ in range(10):
        rng.shuffle(idxs)
        counts: dict[str, int] = defaultdict(int)
        chosen = []
        for i in idxs:
            if counts[y_train[i]] < 8:
                counts[y_train[i]] += 1
                chosen.append(i)
        clf = LogisticRegression(C=c, max_iter=max_iter, random_state=42)
        clf.fit(x_train[chosen], y_train[chosen])
        scores.append(float((clf.predict(x_test) == y_test).mean()))
    return scores


def banking(data: Path, runtime: Runtime, cache: Path | None) -> list[str]:
    train = pq.read_table(data / "banking77_train.parquet").to_pydict()
    test = pq.read_table(data / "banking77_test.parquet").to_pydict()
    x_train, t1 = cached(cache, "banking_train", lambda: text_vectors(train["text"], runtime))
    x_test, t2 = cached(cache, "banking_test", lambda: text_vectors(test["text"], runtime))
    y_train, y_test = np.array(train["label"], dtype=object), np.array(test["label"], dtype=object)
    lines = [
        "### Banking77 (77 intents; 10,003 train / 3,080 test)",
        "",
        f"Embedding: {len(x_train) + len(x_test):,} texts in {t1 + t2:.0f} s (0 s = loaded from --cache-dir).",
        "",
        "| protocol | classifier | test accuracy | test macro-F1 |",
        "|---|---|---:|---:|",
    ]
    for c in (DEFAULT_C, 1.0):
        pred = head_predict(x_train, y_train, x_test, c)
        name = f"sqlml head (logistic regression C={c:g}{', the default' if c == DEFAULT_C else ''})"
        lines.append(f"| full train set | {name} | {(pred == y_test).mean():.4f} | {macro_f1(y_test, pred):.4f} |")
    from sklearn.model_selection import train_test_split

    fit, val = train_test_split(np.arange(len(y_train)), test_size=0.2, random_state=0, stratify=y_train)
    validation = {c: float((head_predict(x_train[fit], y_train[fit], x_train[val], c) == y_train[val]).mean()) for c in (10.0, 30.0, 100.0)}
    best = max(validation, key=validation.__getitem__)
    pred = head_predict(x_train, y_train, x_test, best)
    chosen = ", ".join(f"C={c:g}: {v:.4f}" for c, v in validation.items())
    lines.append(f"| full train set | sqlml head, C={best:g} chosen on an 80/20 split of the train set ({chosen}) "
                 f"| {(pred == y_test).mean():.4f} | {macro_f1(y_test, pred):.4f} |")
    for c, max_iter, name in ((1.0, 100, "MTEB's classifier (C=1, max_iter=100)"), (DEFAULT_C, 2000, f"sqlml head (C={DEFAULT_C:g})")):
        scores = mteb_protocol(x_train, y_train, x_test, y_test, c, max_iter)
        lines.append(f"| MTEB: 10 × 8 per label | {name} | {np.mean(scores):.4f} ± {np.std(scores):.4f} | |")
    lines.append("| MTEB: 10 × 8 per label | published MTEB result for all-MiniLM-L6-v2 | 0.8004 | |")
    return lines


def bbc(data: Path, runtime: Runtime, cache: Path | None) -> list[str]:
    table = pq.read_table(data / "bbc_news_summary.parquet", columns=["body", "category"]).to_pydict()
    y = np.array(table["category"], dtype=object)
    bodies = table["body"]
    truncated, t1 = cached(cache, "bbc_truncated", lambda: embed_strings(bodies, runtime))
    chunked, t2 = cached(cache, "bbc_chunked", lambda: text_vectors(bodies, runtime))
    sample = np.sort(np.random.default_rng(0).choice(len(y), size=500, replace=False))
    labels = np.array(BBC_LABELS, dtype=object)

    def zero_shot(x: np.ndarray, templates: tuple[str, ...], names: tuple[str, ...] = BBC_LABELS) -> np.ndarray:
        vecs = np.mean([label_vectors(names, t, runtime) for t in templates], axis=0)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        return zero_shot_probabilities(x, vecs)

    lines = [
        "### BBC News (2,225 articles, 5 categories): zero-shot",
        "",
        f"Embedding: 2 × 2,225 articles in {t1 + t2:.0f} s (0 s = loaded from --cache-dir).",
        "",
        "| labels / template | long articles | accuracy, 500-article sample | accuracy, all 2,225 |",
        "|---|---|---:|---:|",
    ]
    variants: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [(k, (v,), BBC_LABELS) for k, v in TEMPLATES.items()]
    variants.append(("mean of the 3 sentence templates", ENSEMBLE, BBC_LABELS))
    descriptions = tuple(DESCRIPTIONS[x] for x in BBC_LABELS)
    variants.append(("descriptions in 'This article is about {label}.'", ("This article is about {label}.",), descriptions))
    for title, templates, names in variants:
        for mode, x in (("truncated at 256 tokens", truncated), ("mean of sentence chunks", chunked)):
            pred = labels[np.argmax(zero_shot(x, templates, names), axis=1)]
            lines.append(f"| {title} | {mode} | {(pred[sample] == y[sample]).mean():.3f} | {(pred == y).mean():.3f} |")
    lines += ["", "Calibration of the zero-shot probabilities (template 'This text is about {label}.', chunked, all 2,225):", "",
              "| temperature | mean log-loss | mean top probability | accuracy |", "|---:|---:|---:|---:|"]
    label_vecs = label_vectors(BBC_LABELS, "This text is about {label}.", runtime)
    truth = np.array([BBC_LABELS.index(v) for v in y])
    for temperature in (0.01, 0.02, 0.03, 0.04, 0.05, 0.1):
        probs = zero_shot_probabilities(chunked, label_vecs, temperature)
        nll = -np.log(np.maximum(probs[np.arange(len(y)), truth], 1e-12)).mean()
        lines.append(f"| {temperature:g} | {nll:.3f} | {probs.max(axis=1).mean():.3f} | {(probs.argmax(axis=1) == truth).mean():.3f} |")
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)
    lines += ["", "### BBC News: trained head (stratified 80/20 split, seed 0: 1,780 train / 445 test)", "",
              "| long articles | test accuracy | test macro-F1 |", "|---|---:|---:|"]
    for mode, x in (("truncated at 256 tokens", truncated), ("mean of sentence chunks", chunked)):
        pred = head_predict(x[train], y[train], x[test], DEFAULT_C)
        lines.append(f"| {mode} | {(pred == y[test]).mean():.4f} | {macro_f1(y[test], pred):.4f} |")
    return lines


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep embeddings here as .npy between runs")
    parser.add_argument("--only", choices=("banking", "bbc"), default=None, help="run one data set only")
    args = parser.parse_args()
    runtime = get_runtime("default", "cpu")
    out: list[str] = []
    if args.only in (None, "banking"):
        out += banking(args.data_dir, runtime, args.cache_dir) + [""]
    if args.only in (None, "bbc"):
        out += bbc(args.data_dir, runtime, args.cache_dir)
    print("\n".join(out))


if __name__ == "__main__":
    main()
