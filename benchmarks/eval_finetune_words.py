"""Fine-tuned encoder + word features on Banking77 (issue 21 item 4): does LR over [2 · fine-tuned embedding ⊕ TF-IDF]
reach what neither reaches alone?

Four heads on the same rows, scored on all 3,080 Banking77 test rows:

* LR over the frozen embedding, and over [2 · frozen embedding ⊕ words] (``eval_head_words.predict``);
* LR over the fine-tuned embedding, and over [2 · fine-tuned embedding ⊕ words]: the encoder is fine-tuned once per
  training set by ``method='finetune'``'s code path (``train.tuned_encoder`` with the default ``FineTuneOptions``,
  seed 0), the rows embedded by ``text_vectors`` through a ``private_runtime`` of it.

Training sets: (a) the whole train file (10,003 rows; the data README's protocol; the fine-tuning is timed, the
issue's CPU budget being 15 minutes); (b) MTEB's protocol draws (``eval_head_words.first_per_label`` over
``np.random.RandomState(42)`` shuffles: 8 rows per label), the first ``--mteb-draws`` of its 10. Paired bootstrap of
Δ accuracy against the frozen embedding's LR (``eval_quality.classify_rows``, 1,000 resamples).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_finetune_words.py --mteb-draws 3

Writes ``finetune_words.json`` and ``finetune_words.md`` to ``--out`` (default ``benchmarks/results/<date>-cpu-finetune-words/``).
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
from eval_head_words import first_per_label, predict  # noqa: E402
from sqlml.config import Settings  # noqa: E402
from sqlml.engine.runtime import get_runtime, private_runtime  # noqa: E402
from sqlml.ops.classify.finetune import FineTuneOptions  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import tuned_encoder  # noqa: E402

HEADS = ("LR, frozen embedding", "LR, frozen embedding + words", "LR, fine-tuned embedding", "LR, fine-tuned embedding + words")


def heads_on(runtime, texts: list[str], y: np.ndarray, x: np.ndarray, test_texts: list[str], x_test: np.ndarray,  # type: ignore[no-untyped-def]
             labels: list[str], timings: dict[str, float], name: str) -> dict[str, np.ndarray]:
    """Predicted label codes of the test rows by the four heads trained on ``texts``/``y`` (codes)."""
    out = {HEADS[0]: predict(False, x, texts, y, x_test, test_texts), HEADS[1]: predict(True, x, texts, y, x_test, test_texts)}
    started = time.perf_counter()
    with tuned_encoder(runtime, texts, np.array([labels[i] for i in y], dtype=object), sorted(labels), FineTuneOptions(), lambda _: None) as tuned:
        timings[f"{name}: fine-tune"] = round(time.perf_counter() - started, 1)
        with private_runtime(tuned, Settings.resolve(device="cpu")) as own:
            x_tuned, x_tuned_test = text_vectors(texts, own), text_vectors(test_texts, own)
    out[HEADS[2]] = predict(False, x_tuned, texts, y, x_tuned_test, test_texts)
    out[HEADS[3]] = predict(True, x_tuned, texts, y, x_tuned_test, test_texts)
    return out


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--mteb-draws", type=int, default=10)
    parser.add_argument("--skip-full", action="store_true", help="only the MTEB draws")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    runtime = get_runtime(None, "cpu")
    train_texts, train_labels = eq.read(args.data, "banking77_train", "text", "label")
    test_texts, test_labels = eq.read(args.data, "banking77_test", "text", "label")
    labels = sorted(set(train_labels))
    code = {label: i for i, label in enumerate(labels)}
    y_train, y_test = np.array([code[label] for label in train_labels]), np.array([code[label] for label in test_labels])
    x_train, x_test = text_vectors(train_texts, runtime), text_vectors(test_texts, runtime)
    timings: dict[str, float] = {"frozen embedding of train and test": round(time.perf_counter() - started, 1)}
    rows: list[eq.Row] = []
    if not args.skip_full:
        preds = heads_on(runtime, train_texts, y_train, x_train, test_texts, x_test, labels, timings, "whole train file")
        for row in eq.classify_rows("banking77", "test", y_test, {h: [p] for h, p in preds.items()}, len(labels), HEADS[0], args.bootstrap):
            row.method = f"{row.method}, whole train file ({len(train_texts):,} rows)"
            rows.append(row)
            print(f"{row.method}: {row.metrics['accuracy']:.2f}", flush=True)
    draws: dict[str, list[np.ndarray]] = {head: [] for head in HEADS}
    order, rng = np.arange(len(train_texts)), np.random.RandomState(42)
    for draw in range(args.mteb_draws):
        rng.shuffle(order)
        chosen = first_per_label(order, y_train, 8)
        preds = heads_on(runtime, [train_texts[i] for i in chosen], y_train[chosen], x_train[chosen], test_texts, x_test, labels, timings,
                         f"MTEB draw {draw}")
        for head, p in preds.items():
            draws[head].append(p)
            print(f"draw {draw} {head}: {100 * float((p == y_test).mean()):.2f}", flush=True)
    if args.mteb_draws:
        for row in eq.classify_rows("banking77", "test", y_test, draws, len(labels), HEADS[0], args.bootstrap):
            row.method = f"{row.method}, MTEB protocol, first {args.mteb_draws} of its 10 draws of 8 per label"
            rows.append(row)
            print(f"{row.method}: {row.metrics['accuracy']:.2f}", flush=True)
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-finetune-words"
    out.mkdir(parents=True, exist_ok=True)
    command = "PYTHONPATH=$PWD python benchmarks/eval_finetune_words.py " + " ".join(sys.argv[1:])
    payload = {"command": command, "device": "CPU (2 cores), fp32, all-MiniLM-L6-v2", "seconds": round(time.perf_counter() - started, 1),
               "timings_s": timings, "rows": [{"method": r.method, "metrics": r.metrics, "ci": r.ci, "delta": r.delta, **r.extra} for r in rows]}
    (out / "finetune_words.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    lines = [f"Command: `{command}`; {payload['device']}; {payload['seconds']} s", "", "| method | accuracy | macro-F1 | Δ accuracy vs frozen LR |",
             "|---|---:|---:|---:|"]
    lines += [f"| {r.method} | {eq.fmt(r.metrics['accuracy'], r.ci['accuracy'])} | {eq.fmt(r.metrics['macro_f1'], r.ci['macro_f1'])} | "
              + ("" if r.delta is None else eq.fmt(r.delta["value"], r.delta["ci"])) + " |" for r in rows]
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v}" for k, v in timings.items())]
    (out / "finetune_words.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
