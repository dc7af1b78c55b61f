"""How much ``classify_scores``' zero-shot confidence means: calibration error by temperature (issue 21 item 3).

Zero-shot scores are ``softmax(cosine / temperature)`` over the labels (``zero_shot_probabilities``). The
temperature changes no label, only how confident the scores are, so it is chosen for calibration: on the dev
splits of the six topic/intent corpora, the temperature (grid ``--temperatures``) with the lowest mean
negative log-likelihood (NLL) over the corpora; its expected calibration error (ECE) and NLL are then
reported on the test splits beside today's default. Both the default template and bare label names are scored.

ECE: 15 equal-width confidence bins; ``sum_b |B|/n · |accuracy(B) − mean confidence(B)|`` of the top label,
× 100 (Guo et al. 2017). Bootstrap: 95 % percentile interval over rows (``--bootstrap``, seed 12345); ECE is
biased upward on resamples (duplicated rows), so the interval sits mostly above the point value.

Splits and vectors: ``eval_zero_shot.py``'s (``eval_quality.classify_splits``, dev 300 / test 500, vectors
cached in ``.bench-data/vectors-zs/``; this script embeds what is missing).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_calibration.py

Writes ``calibration.json`` and ``calibration.md`` to ``benchmarks/results/<date>-cpu-calibration/``.
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

from eval_quality import FILES, _ci, boot_indices, classify_splits  # noqa: E402
from eval_zero_shot import ORDER, cached_vectors  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.classify.core import DEFAULT_TEMPERATURE, DEFAULT_TEMPLATE, label_vectors, zero_shot_probabilities  # noqa: E402

BINS = 15


def ece(probs: np.ndarray, y: np.ndarray) -> float:
    """Expected calibration error × 100 of the top label over :data:`BINS` equal-width confidence bins."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = (predicted == y).astype(np.float64)
    bins = np.minimum((confidence * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in range(BINS):
        inside = bins == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return 100 * total


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true label."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


#: The splits of the zero-shot studies: eval_zero_shot's first 300 dev and 500 test rows, no train pool.
ZERO_SHOT_SPLITS = argparse.Namespace(max_dev=300, max_test=500, max_train=0)


def zero_shot_arguments(doc: str | None, temperatures: str) -> argparse.ArgumentParser:
    """The arguments the zero-shot calibration scripts share: data, temperature grid, bootstrap, vector cache, output."""
    root = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    p.add_argument("--temperatures", default=temperatures)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--cache", type=Path, default=root / ".bench-data" / "vectors-zs")
    p.add_argument("--out", type=Path, default=None)
    return p


def corpus_labels(name: str, data: Path) -> tuple[dict, tuple[str, ...], tuple[str, ...], dict[str, int]]:
    """``(splits, names, shown, code)`` of one corpus: eval_quality's splits (:data:`ZERO_SHOT_SPLITS`), its label
    names sorted, the names as embedded (Banking77's underscores as spaces), and each name's code."""
    splits = classify_splits(name, data, ZERO_SHOT_SPLITS)
    names = tuple(sorted(set(splits["test"][1]) | set(splits["dev"][1])))
    shown = tuple(n.replace("_", " ") for n in names) if name == "banking77" else names
    return splits, names, shown, {lab: i for i, lab in enumerate(names)}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    args = zero_shot_arguments(__doc__, "0.01,0.015,0.02,0.025,0.03,0.04,0.05,0.07,0.1").parse_args()
    temperatures = [float(t) for t in args.temperatures.split(",")]
    runtime = get_runtime(None, "cpu")
    started = time.perf_counter()
    data: dict[str, dict] = {}
    for name in ORDER:
        splits, names, shown, code = corpus_labels(name, args.data)
        data[name] = {
            "labels": {"template": label_vectors(shown, DEFAULT_TEMPLATE, runtime), "bare": label_vectors(shown, "{label}", runtime)},
            **{k: (cached_vectors(args.cache, name, k, splits[k][0], runtime), np.array([code[v] for v in splits[k][1]]))
               for k in ("dev", "test")},
        }
    results: dict[str, dict] = {}
    lines = [f"Command: `PYTHONPATH=$PWD python benchmarks/eval_calibration.py {' '.join(sys.argv[1:])}`", ""]
    for labels in ("template", "bare"):
        dev_nll = {t: float(np.mean([nll(zero_shot_probabilities(d["dev"][0], d["labels"][labels], t), d["dev"][1])
                                     for d in data.values()])) for t in temperatures}
        chosen = min(dev_nll, key=dev_nll.get)  # type: ignore[arg-type]
        results[labels] = {"dev_mean_nll": dev_nll, "chosen_temperature": chosen, "test": {}}
        shown_template = DEFAULT_TEMPLATE if labels == "template" else "{label}"
        lines += [f"### Zero-shot, {labels} labels (`{shown_template}`)", "",
                  "Dev mean NLL by temperature: " + ", ".join(f"{t:g}: {v:.3f}" for t, v in dev_nll.items())
                  + f"; lowest at **{chosen:g}** (default {DEFAULT_TEMPERATURE:g}).", "",
                  f"| corpus (test) | n | accuracy | ECE at {DEFAULT_TEMPERATURE:g} | ECE at {chosen:g} | NLL at {DEFAULT_TEMPERATURE:g} | NLL at {chosen:g} |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, d in data.items():
            vec, y = d["test"]
            idx = boot_indices(len(y), args.bootstrap)
            row = {}
            for t in dict.fromkeys((DEFAULT_TEMPERATURE, chosen)):
                probs = zero_shot_probabilities(vec, d["labels"][labels], t)
                row[t] = {"ece": ece(probs, y), "ece_ci": _ci(np.array([ece(probs[i], y[i]) for i in idx])), "nll": nll(probs, y),
                          "accuracy": 100 * float((probs.argmax(axis=1) == y).mean())}
            results[labels]["test"][name] = {str(t): v for t, v in row.items()}
            a, b = row[DEFAULT_TEMPERATURE], row[chosen]
            lines.append(f"| {FILES[name][0]} | {len(y)} | {a['accuracy']:.1f} | {a['ece']:.1f} [{a['ece_ci'][0]:.1f}, {a['ece_ci'][1]:.1f}] | "
                         f"{b['ece']:.1f} [{b['ece_ci'][0]:.1f}, {b['ece_ci'][1]:.1f}] | {a['nll']:.3f} | {b['nll']:.3f} |")
        lines.append("")
    lines.append(f"Run time {time.perf_counter() - started:.0f} s (CPU, 2 cores; text vectors cached).")
    print("\n".join(lines))
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-calibration"
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.md").write_text("\n".join(lines) + "\n")
    (out / "calibration.json").write_text(json.dumps({"bins": BINS, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
