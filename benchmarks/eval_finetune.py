"""Fine-tuned heads against logistic regression on frozen embeddings, across corpora (issue 21 item 4).

Same corpora, splits, 8-per-label draws and bootstrap as ``eval_quality.py`` (imported: ``classify_splits``,
``shot_rows``, ``classify_rows``). For every corpus and draw, two heads are trained on the same rows:

* **LR (frozen)**: ``train_classifier``'s logistic regression (C = 10) on ``text_vectors`` of the base model;
* **fine-tuned**: ``method='finetune'``'s code path (``train.tuned_encoder`` → ``private_runtime`` →
  ``text_vectors`` → the same logistic regression), with ``FineTuneOptions(learning_rate=LR, seed=draw seed)``
  and the default step count, storing nothing.

Stage ``dev``: seed 0 only, every ``--lrs`` value, scored on the dev splits; the learning rate with the best
mean dev accuracy is chosen. Stage ``test``: the chosen (or ``--lr``) value, seeds ``--seeds``, scored on the
test splits, Δ = paired bootstrap of accuracy against LR (frozen) over the same rows, averaged over seeds.
``--full CORPUS`` adds one fine-tuned run on that corpus's whole train file (Banking77: 10,003 rows) beside LR
on the same rows, with test_size 0, timed (the issue's CPU budget: ≤ 15 minutes for it on this machine).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_finetune.py --stage dev --lrs 1e-4,2e-4
    PYTHONPATH=$PWD python benchmarks/eval_finetune.py --stage test --lr 1e-4 --seeds 0,1,2

Writes ``finetune.json`` and ``finetune.md`` to ``benchmarks/results/<date>-cpu-finetune-<stage>/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import eval_quality as q  # noqa: E402
from sqlml.config import Settings  # noqa: E402
from sqlml.engine.runtime import get_runtime, private_runtime  # noqa: E402
from sqlml.ops.classify import train  # noqa: E402
from sqlml.ops.classify.finetune import FineTuneOptions  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402

CORPORA = ("bbc_topics", "trec", "newsgroups20", "reuters_r8", "emotion", "banking77")



def lr_labels(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """The labels sqlml's default LR head (``C = DEFAULT_C``, seed 0) trained on ``x_train`` gives ``x_test``."""
    classes = np.array(sorted(set(y_train.tolist())), dtype=object)
    return classes[np.argmax(train.lr_logits(x_train, y_train, x_test, train.DEFAULT_C, 0), axis=1)]

def fine_tuned_predictions(runtime, texts, labels, eval_texts, options):  # type: ignore[no-untyped-def]
    """Labels of ``eval_texts`` by a head fine-tuned on ``texts``/``labels`` (the ``method='finetune'`` path), and seconds."""
    y = np.array(labels, dtype=object)
    classes = sorted(set(labels))
    started = time.perf_counter()
    with train.tuned_encoder(runtime, texts, y, classes, options, lambda _n: None) as tuned, \
            private_runtime(tuned, Settings.resolve(device="cpu")) as own:
        tuned_seconds = time.perf_counter() - started
        x = text_vectors(texts + eval_texts, own)
    predicted = lr_labels(x[: len(texts)], y, x[len(texts):])
    return predicted, tuned_seconds


def run(args: argparse.Namespace) -> None:
    root = Path(__file__).resolve().parents[1]
    runtime = get_runtime(None, "cpu")
    split = "dev" if args.stage == "dev" else "test"
    lrs = [float(x) for x in args.lrs.split(",")] if args.stage == "dev" else [args.lr]
    seeds = [0] if args.stage == "dev" else [int(s) for s in args.seeds.split(",")]
    corpora = CORPORA if args.corpora == "all" else tuple(args.corpora.split(","))
    caps = argparse.Namespace(max_test=args.max_test, max_dev=args.max_dev, max_train=args.max_train)
    started = time.perf_counter()
    log_lines: list[str] = []

    def log(line: str) -> None:
        log_lines.append(f"[{time.perf_counter() - started:6.0f} s] {line}")
        print(log_lines[-1], file=sys.stderr, flush=True)

    rows: list[q.Row] = []
    timings: list[dict] = []
    for corpus in corpora:
        splits = q.classify_splits(corpus, args.data, caps)
        names = sorted(set(splits["train"][1]) | set(splits["test"][1]) | set(splits["dev"][1]))
        code = {n: i for i, n in enumerate(names)}
        pool_x, pool_y = splits["train"]
        eval_x, eval_y = splits[split]
        true = np.array([code[v] for v in eval_y])
        frozen_eval = text_vectors(list(eval_x), runtime)
        y_pool = np.array(pool_y, dtype=object)
        drawn = {seed: q.shot_rows(np.array([code[v] for v in pool_y]), seed) for seed in seeds}
        needed = np.arange(len(pool_x)) if corpus in args.full else np.unique(np.concatenate(list(drawn.values())))
        frozen_pool = np.zeros((len(pool_x), frozen_eval.shape[1]), dtype=np.float32)  # only the rows a head trains on
        frozen_pool[needed] = text_vectors([pool_x[i] for i in needed], runtime)
        preds: dict[str, list[np.ndarray]] = {"LR (frozen), 8/label": []}
        for seed in seeds:
            picks = drawn[seed]
            lr_pred = lr_labels(frozen_pool[picks], y_pool[picks], frozen_eval)
            preds["LR (frozen), 8/label"].append(np.array([code[v] for v in lr_pred]))
            for lr in lrs:
                options = FineTuneOptions(learning_rate=lr, seed=seed)
                predicted, seconds = fine_tuned_predictions(runtime, [pool_x[i] for i in picks], [pool_y[i] for i in picks],
                                                           list(eval_x), options)
                preds.setdefault(f"fine-tuned lr={lr:g}, 8/label", []).append(np.array([code[v] for v in predicted]))
                steps = options.steps_for(len(picks))
                timings.append({"corpus": corpus, "seed": seed, "lr": lr, "rows": len(picks), "steps": steps, "seconds": round(seconds, 1)})
                acc = 100 * float((preds[f"fine-tuned lr={lr:g}, 8/label"][-1] == true).mean())
                base = 100 * float((preds["LR (frozen), 8/label"][-1] == true).mean())
                log(f"{corpus} seed {seed} lr {lr:g}: {len(picks)} rows, {steps} steps, {seconds:.0f} s; {split} acc {acc:.1f} vs LR {base:.1f}")
        if corpus in args.full:
            y_all = np.array(pool_y, dtype=object)
            full_lr = lr_labels(frozen_pool, y_all, frozen_eval)
            preds[f"LR (frozen), train pool ({len(pool_x):,})"] = [np.array([code[v] for v in full_lr])]
            options = FineTuneOptions(learning_rate=lrs[0], seed=0)
            predicted, seconds = fine_tuned_predictions(runtime, list(pool_x), list(pool_y), list(eval_x), options)
            preds[f"fine-tuned lr={lrs[0]:g}, train pool ({len(pool_x):,})"] = [np.array([code[v] for v in predicted])]
            timings.append({"corpus": corpus, "seed": 0, "lr": lrs[0], "rows": len(pool_x), "steps": options.steps_for(len(pool_x)),
                            "seconds": round(seconds, 1)})
            log(f"{corpus} full pool: {len(pool_x)} rows fine-tuned in {seconds:.0f} s")
        rows += q.classify_rows(corpus, split, true, preds, len(names), "LR (frozen), 8/label", args.bootstrap)
    dev_means = {}
    if args.stage == "dev":
        for lr in lrs:
            method = f"fine-tuned lr={lr:g}, 8/label"
            dev_means[lr] = float(np.mean([r.metrics["accuracy"] for r in rows if r.method == method]))
        log("dev mean accuracy by learning rate: " + ", ".join(f"{lr:g}: {m:.1f}" for lr, m in dev_means.items())
            + f"; chosen {max(dev_means, key=dev_means.get):g}")  # type: ignore[arg-type]
    write(root, args, rows, timings, log_lines, split, time.perf_counter() - started, dev_means)


def write(root: Path, args: argparse.Namespace, rows: list[q.Row], timings: list[dict], log_lines: list[str], split: str,
          seconds: float, dev_means: dict[float, float]) -> None:
    command = "PYTHONPATH=$PWD python benchmarks/eval_finetune.py " + " ".join(sys.argv[1:])
    md = [f"Command: `{command}`", f"Device: {q.device_name()}; run time {seconds:.0f} s.",
          f"Split: {split} (caps: dev {args.max_dev}, test {args.max_test}, train pool {args.max_train}). Accuracy / macro-F1 × 100 "
          "[95 % bootstrap]; Δ = paired bootstrap of accuracy vs LR (frozen) on the same draws, mean over seeds.", ""]
    md += ["| corpus | method | n | accuracy | macro-F1 | Δ acc vs LR | seed sd |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        delta = "" if r.delta is None else f"{r.delta['value']:+.1f} [{r.delta['ci'][0]:+.1f}, {r.delta['ci'][1]:+.1f}]"
        sd = f"{r.extra['seed_sd_accuracy']:.1f}" if "seed_sd_accuracy" in r.extra else ""
        md.append(f"| {r.corpus} | {r.method} | {r.n} | {q.fmt(r.metrics['accuracy'], r.ci['accuracy'])} | "
                  f"{q.fmt(r.metrics['macro_f1'], r.ci['macro_f1'])} | {delta} | {sd} |")
    md += ["", "Fine-tuning time per run (CPU, training only; rows × steps of batch 32):", "",
           "| corpus | seed | lr | rows | steps | seconds |", "|---|---:|---:|---:|---:|---:|"]
    md += [f"| {t['corpus']} | {t['seed']} | {t['lr']:g} | {t['rows']} | {t['steps']} | {t['seconds']} |" for t in timings]
    md += ["", "Log:", ""] + [f"- {line}" for line in log_lines]
    print("\n".join(md))
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-finetune-{args.stage}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune.md").write_text("\n".join(md) + "\n")
    payload = {"command": command, "device": q.device_name(), "seconds": round(seconds, 1), "split": split,
               "dev_mean_accuracy_by_lr": {str(k): v for k, v in dev_means.items()}, "timings": timings, "log": log_lines,
               "rows": [r.__dict__ for r in rows]}
    (out / "finetune.json").write_text(json.dumps(payload, indent=1) + "\n")


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--stage", choices=["dev", "test"], default="dev")
    parser.add_argument("--lrs", default="1e-4,2e-4", help="dev stage: learning rates to compare")
    parser.add_argument("--lr", type=float, default=FineTuneOptions.learning_rate, help="test stage: the learning rate")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="test stage: 8-per-label draws")
    parser.add_argument("--corpora", default="all")
    parser.add_argument("--full", default="", help="comma-separated corpora to also fine-tune on their whole train pool")
    parser.add_argument("--max-test", type=int, default=500)
    parser.add_argument("--max-dev", type=int, default=300)
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.full = [c for c in args.full.split(",") if c]
    with tempfile.TemporaryDirectory() as home:  # nothing is stored, but keep the user's SQLML_HOME out of it
        import os

        os.environ["SQLML_HOME"] = home
        run(args)


if __name__ == "__main__":
    main()
