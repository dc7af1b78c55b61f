"""sqlml's refined zero-shot labels (``refine_label_vectors``): equivalence, accuracy, temperature, set size.

``sqlml.ops.classify.refine.refine_label_vectors`` (the package's transductive option) should equal the study
variant ``bare/refine T=5 a=0.5 q=0.3`` of ``eval_zero_shot_refine.py``. This script, from the cached vectors of
``eval_zero_shot.py`` (``.bench-data/vectors-zs/``, same splits: dev 300 / test 500 of six corpora; nothing
is re-embedded except the label names), reports:

1. **Agreement**: the package path (bare label vectors and each split's row vectors as ``predict_zero_shot``
   hands them over, float32; label = argmax of ``zero_shot_probabilities``) vs the study's ``refine`` (imported)
   on the same rows: share of rows with the same label per corpus and split (also on every set of step 3).
   Accuracy / macro-F1 × 100 of ``refined`` (the package), ``bare`` (``{label}``) and ``tmpl``
   (``DEFAULT_TEMPLATE``) on dev and test; Δ = accuracy vs bare, paired bootstrap 95 % (``eval_quality``'s
   ``boot_indices``, seed 12345, ``--bootstrap`` resamples).
2. **Temperature** for refined vectors: ``softmax(cosine / T)`` with the vectors refined over each dev split;
   the grid ``--temperatures`` point with the lowest mean dev NLL over the six corpora (``eval_calibration``'s
   rule, ``nll``). Test ECE (``eval_calibration.ece``: 15 bins, top label, × 100, with a 95 % bootstrap
   interval) and NLL per corpus: refined at the chosen T and at ``DEFAULT_TEMPERATURE``, and the template
   (today's non-refined default) at ``DEFAULT_TEMPERATURE``.
3. **Set size** (test): each test split shuffled once (``default_rng(0).permutation``) and cut with
   ``np.array_split`` into ``round(n / size)`` sets of ≈``size`` rows (``--set-sizes``), each set refined on its
   own; mean accuracy over the sets × 100, and the ECE at the chosen T of the pooled per-set probabilities.

Usage (repository root)::

    OMP_NUM_THREADS=1 nice -n 19 env PYTHONPATH=$PWD python benchmarks/eval_zero_shot_refined_calibration.py

Writes ``refined-calibration.md`` and ``.json`` to ``benchmarks/results/<date>-cpu-zero-shot-refined-calibration/``.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from eval_calibration import corpus_labels, ece, nll, zero_shot_arguments  # noqa: E402
from eval_quality import FILES, _ci, boot_indices, macro_f1_codes  # noqa: E402
from eval_zero_shot import ORDER, cached_vectors, unit  # noqa: E402
from eval_zero_shot_refine import refine as study_refine  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.classify.core import DEFAULT_TEMPERATURE, DEFAULT_TEMPLATE, label_vectors, zero_shot_probabilities  # noqa: E402
from sqlml.ops.classify.refine import CLEAR_SHARE, LABEL_WEIGHT, REFINE_TEMPLATE, ROUNDS, refine_label_vectors  # noqa: E402

STUDY_VARIANT = f"bare/refine T={ROUNDS} a={LABEL_WEIGHT:g} q={CLEAR_SHARE:g}"
VARIANTS = ("bare", "tmpl", "refined")


def refined_probs(x: np.ndarray, lab: np.ndarray, temperature: float) -> np.ndarray:
    """The package path: label vectors refined over ``x``, then ``zero_shot_probabilities``."""
    return zero_shot_probabilities(x, refine_label_vectors(lab, x), temperature)


def study_pred(x: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """The study's ``bare/refine`` labels (its own float64 unit copies, as ``eval_zero_shot_refine`` builds them)."""
    return study_refine(unit(x), unit(lab), ROUNDS, LABEL_WEIGHT, CLEAR_SHARE)


def sets_of(n: int, size: int) -> list[np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    return np.array_split(order, max(1, round(n / size)))


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    p = zero_shot_arguments(__doc__, "0.01,0.02,0.03,0.04,0.05,0.07,0.1,0.15,0.2,0.3")
    p.add_argument("--set-sizes", default="250,100,50,30")
    args = p.parse_args()
    temperatures = [float(t) for t in args.temperatures.split(",")]
    set_sizes = [int(s) for s in args.set_sizes.split(",")]
    out_dir = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-zero-shot-refined-calibration"
    assert REFINE_TEMPLATE == "{label}", REFINE_TEMPLATE
    runtime = get_runtime(None, "cpu")
    started = time.perf_counter()
    corpora = list(ORDER)
    label = {c: FILES[c][0] for c in corpora}

    data: dict[str, dict] = {}
    for name in corpora:
        splits, names, shown, code = corpus_labels(name, args.data)
        data[name] = {"k": len(names), "bare": label_vectors(shown, REFINE_TEMPLATE, runtime),
                      "tmpl": label_vectors(shown, DEFAULT_TEMPLATE, runtime)}
        for k in ("dev", "test"):
            path = args.cache / f"{name}-{k}-{len(splits[k][0])}.npy"
            if not path.exists():
                raise SystemExit(f"missing cached vectors {path}: run benchmarks/eval_zero_shot.py first")
            data[name][k] = (cached_vectors(args.cache, name, k, splits[k][0], runtime),
                             np.array([code[v] for v in splits[k][1]]))

    # 1. agreement and accuracy
    agreement: dict[str, dict[str, float]] = {}
    results: dict[str, dict[str, dict[str, dict]]] = {"dev": {}, "test": {}}
    for name, d in data.items():
        for k in ("dev", "test"):
            x, y = d[k]
            preds = {"bare": zero_shot_probabilities(x, d["bare"]).argmax(axis=1),
                     "tmpl": zero_shot_probabilities(x, d["tmpl"]).argmax(axis=1),
                     "refined": refined_probs(x, d["bare"], DEFAULT_TEMPERATURE).argmax(axis=1)}
            agreement.setdefault(name, {})[k] = 100 * float((preds["refined"] == study_pred(x, d["bare"])).mean())
            idx = boot_indices(len(y), args.bootstrap)
            ref = (preds["bare"] == y).astype(np.float64)
            for v, pred in preds.items():
                diff = (pred == y) - ref
                results[k].setdefault(name, {})[v] = {
                    "acc": 100 * float((pred == y).mean()), "f1": 100 * macro_f1_codes(y, pred, d["k"]),
                    "delta": 100 * float(diff.mean()), "ci": _ci(100 * diff[idx].mean(axis=1)), "n": len(y)}
    print(f"[{time.perf_counter() - started:5.1f} s] agreement and accuracy", file=sys.stderr, flush=True)

    # 2. temperature by dev NLL; test ECE
    dev_vectors = {name: refine_label_vectors(d["bare"], d["dev"][0]) for name, d in data.items()}
    test_vectors = {name: refine_label_vectors(d["bare"], d["test"][0]) for name, d in data.items()}
    dev_nll = {t: float(np.mean([nll(zero_shot_probabilities(d["dev"][0], dev_vectors[n], t), d["dev"][1])
                                 for n, d in data.items()])) for t in temperatures}
    dev_nll_per = {n: {str(t): nll(zero_shot_probabilities(d["dev"][0], dev_vectors[n], t), d["dev"][1]) for t in temperatures}
                   for n, d in data.items()}
    chosen = min(dev_nll, key=dev_nll.get)  # type: ignore[arg-type]
    calib_cols = {f"refined T={chosen:g}": ("refined", chosen), f"refined T={DEFAULT_TEMPERATURE:g}": ("refined", DEFAULT_TEMPERATURE),
                  f"tmpl T={DEFAULT_TEMPERATURE:g}": ("tmpl", DEFAULT_TEMPERATURE)}
    calibration: dict[str, dict[str, dict]] = {}
    for name, d in data.items():
        x, y = d["test"]
        idx = boot_indices(len(y), args.bootstrap)
        for col, (kind, t) in calib_cols.items():
            probs = zero_shot_probabilities(x, test_vectors[name] if kind == "refined" else d["tmpl"], t)
            calibration.setdefault(name, {})[col] = {
                "ece": ece(probs, y), "ece_ci": _ci(np.array([ece(probs[i], y[i]) for i in idx])), "nll": nll(probs, y),
                "acc": 100 * float((probs.argmax(axis=1) == y).mean()), "mean_conf": 100 * float(probs.max(axis=1).mean())}
    print(f"[{time.perf_counter() - started:5.1f} s] temperature and ECE", file=sys.stderr, flush=True)

    # 3. set size (test)
    set_size: dict[str, dict[str, dict]] = {}
    for name, d in data.items():
        x, y = d["test"]
        for size in set_sizes:
            parts = sets_of(len(y), size)
            accs, agree, pooled = [], [], np.zeros((len(y), d["k"]))
            for rows in parts:
                probs = refined_probs(x[rows], d["bare"], chosen)
                pooled[rows] = probs
                accs.append(float((probs.argmax(axis=1) == y[rows]).mean()))
                agree.append(float((probs.argmax(axis=1) == study_pred(x[rows], d["bare"])).mean()))
            set_size.setdefault(name, {})[str(size)] = {
                "acc": 100 * float(np.mean(accs)), "sets": len(parts), "rows": [int(min(map(len, parts))), int(max(map(len, parts)))],
                "agreement": 100 * float(np.mean(agree)), "ece_chosen": ece(pooled, y)}
    seconds = time.perf_counter() - started

    # report
    cmd = ("OMP_NUM_THREADS=1 nice -n 19 env PYTHONPATH=$PWD python benchmarks/eval_zero_shot_refined_calibration.py "
           + " ".join(sys.argv[1:]))
    head = " | ".join(label[c] for c in corpora)
    lines = ["# Refined zero-shot labels (`refine_label_vectors`): agreement, accuracy, temperature, set size", "",
             f"Command: `{cmd.strip()}`; run time {seconds:.1f} s (CPU, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}; "
             f"vectors from {args.cache.name}/, nothing re-embedded but label names). `refined` = the package "
             f"(`refine_label_vectors`, ROUNDS={ROUNDS}, LABEL_WEIGHT={LABEL_WEIGHT:g}, CLEAR_SHARE={CLEAR_SHARE:g}, "
             f"template `{REFINE_TEMPLATE}`) over each split's rows; `bare` = `{{label}}`; `tmpl` = `{DEFAULT_TEMPLATE}`.", "",
             f"**Agreement** of the package's labels with the study's `{STUDY_VARIANT}` (% of rows):", "",
             f"| split | {head} |", "|---|" + "---:|" * len(corpora)]
    for k in ("dev", "test"):
        lines.append(f"| {k} | " + " | ".join(f"{agreement[c][k]:.1f}" for c in corpora) + " |")
    for size in set_sizes:
        lines.append(f"| test, sets ≈{size} | " + " | ".join(f"{set_size[c][str(size)]['agreement']:.1f}" for c in corpora) + " |")
    lines.append("")
    for k in ("dev", "test"):
        ns = ", ".join(f"{label[c]} {results[k][c]['bare']['n']}" for c in corpora)
        lines += [f"**{k}** (n: {ns}). Accuracy / macro-F1 × 100; Δ = accuracy vs bare, paired bootstrap 95 %.", "",
                  f"| variant | {head} | mean acc |", "|---|" + "---:|" * (len(corpora) + 1)]
        for v in VARIANTS:
            cells = []
            for c in corpora:
                r = results[k][c][v]
                cell = f"{r['acc']:.1f} / {r['f1']:.1f}"
                if v != "bare":
                    cell += f" ({r['delta']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}])"
                cells.append(cell)
            lines.append(f"| {v} | " + " | ".join(cells) + f" | {np.mean([results[k][c][v]['acc'] for c in corpora]):.1f} |")
        lines.append("")
    lines += ["**Temperature for refined vectors** (vectors refined over each dev split): mean dev NLL over the six corpora: "
              + ", ".join(f"{t:g}: {v:.3f}" for t, v in dev_nll.items())
              + f"; lowest at **{chosen:g}** (default {DEFAULT_TEMPERATURE:g}).", "",
              "| corpus (dev NLL) | " + " | ".join(f"{t:g}" for t in temperatures) + " |", "|---|" + "---:|" * len(temperatures)]
    for c in corpora:
        lines.append(f"| {label[c]} | " + " | ".join(f"{dev_nll_per[c][str(t)]:.3f}" for t in temperatures) + " |")
    lines += ["", "**Test calibration**: ECE × 100 (15 bins, top label) [bootstrap 95 %] / NLL / mean top confidence × 100; "
              "accuracy in the first column of each kind.", "",
              "| corpus (test) | acc refined | " + " | ".join(calib_cols) + " | acc tmpl |", "|---|---:|" + "---:|" * (len(calib_cols) + 1)]
    for c in corpora:
        cells = [f"{r['ece']:.1f} [{r['ece_ci'][0]:.1f}, {r['ece_ci'][1]:.1f}] / {r['nll']:.3f} / {r['mean_conf']:.0f}"
                 for r in calibration[c].values()]
        lines.append(f"| {label[c]} | {calibration[c][f'refined T={chosen:g}']['acc']:.1f} | " + " | ".join(cells)
                     + f" | {calibration[c][f'tmpl T={DEFAULT_TEMPERATURE:g}']['acc']:.1f} |")
    lines.append("| mean | | " + " | ".join(f"{np.mean([calibration[c][col]['ece'] for c in corpora]):.1f} / "
                                          f"{np.mean([calibration[c][col]['nll'] for c in corpora]):.3f}" for col in calib_cols) + " | |")
    lines += ["", "**Set-size dependence (test)**: each test split shuffled once (seed 0), cut into `round(500 / size)` "
              "sets of ≈size rows, each set refined on its own; mean accuracy over the sets × 100 "
              f"(ECE × 100 at T={chosen:g} of the per-set probabilities pooled over the split).", "",
              f"| set size | {head} | mean acc | mean ECE |", "|---|" + "---:|" * (len(corpora) + 2)]
    full_ece = [calibration[c][f"refined T={chosen:g}"]["ece"] for c in corpora]
    lines.append("| all (500) | " + " | ".join(f"{results['test'][c]['refined']['acc']:.1f}" for c in corpora)
                 + f" | {np.mean([results['test'][c]['refined']['acc'] for c in corpora]):.1f} | {np.mean(full_ece):.1f} |")
    for size in set_sizes:
        r0 = set_size[corpora[0]][str(size)]
        rows = f"{r0['rows'][0]}" if r0["rows"][0] == r0["rows"][1] else f"{r0['rows'][0]}–{r0['rows'][1]}"
        lines.append(f"| ≈{size} ({r0['sets']} sets of {rows}) | "
                     + " | ".join(f"{set_size[c][str(size)]['acc']:.1f} ({set_size[c][str(size)]['ece_chosen']:.1f})" for c in corpora)
                     + f" | {np.mean([set_size[c][str(size)]['acc'] for c in corpora]):.1f}"
                     + f" | {np.mean([set_size[c][str(size)]['ece_chosen'] for c in corpora]):.1f} |")
    lines.append("| bare (any size) | " + " | ".join(f"{results['test'][c]['bare']['acc']:.1f}" for c in corpora)
                 + f" | {np.mean([results['test'][c]['bare']['acc'] for c in corpora]):.1f} | |")
    md = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "refined-calibration.md").write_text(md)
    (out_dir / "refined-calibration.json").write_text(json.dumps(
        {"command": cmd.strip(), "seconds": seconds, "study_variant": STUDY_VARIANT, "agreement": agreement,
         "results": results, "temperatures": temperatures, "dev_mean_nll": {str(t): v for t, v in dev_nll.items()},
         "dev_nll": dev_nll_per, "chosen_temperature": chosen, "default_temperature": DEFAULT_TEMPERATURE,
         "calibration": calibration, "set_size": set_size}, indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
