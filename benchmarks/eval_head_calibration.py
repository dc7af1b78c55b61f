"""How much a trained head's ``classify_scores`` confidence means: calibration of sqlml's LR heads (issue 21 item 3).

``eval_calibration.py`` measures zero-shot calibration; this script measures the heads of ``sqlml_train`` /
``sqlml.train_classifier`` with the default method ``lr``. The head is fitted exactly as ``train_classifier`` fits
its stored head: :func:`sqlml.ops.classify.train.fit_logistic_regression` (sklearn ``LogisticRegression``,
``C = DEFAULT_C``, ``max_iter=2000``, no class weights, seed 0) on :func:`text_vectors` of the training rows (all
rows: the stored head is refitted on everything, the held-out split only reports metrics), and scored as
``classify_scores`` scores a head: :meth:`sqlml.models.heads.Head.probabilities` (softmax of ``x·Wᵀ + b``).

Training rows (``eval_finetune.py`` / ``eval_quality.py``'s): the train pool of ``eval_quality.classify_splits``
capped at 2,000 rows (``--max-train``; dev 300 / test 500 as ``eval_calibration.py``), and

* (a) 8 rows per label drawn from that pool by ``eval_quality.shot_rows``, seeds 0–4; metrics are the mean over
  the five heads (the bootstrap resamples test rows once and averages the five heads' ECE on each resample);
* (b) the whole capped pool (``--pools``; corpora without cached/embedded pool vectors are left out and said so).

Per corpus (test split): accuracy, ECE × 100 of the top label (15 equal-width bins, ``eval_calibration.ece``)
with a 95 % bootstrap interval (``eval_quality.boot_indices``, ``--bootstrap`` resamples, seed 12345), mean top
confidence, NLL; and, for information only (sqlml does not do this), ECE / NLL after one temperature on the head's
logits fitted by NLL on the dev split (per head).

Vectors: dev/test from ``.bench-data/vectors-zs/`` (``eval_zero_shot.cached_vectors``); train rows cached in
``.bench-data/vectors-heads/`` (pool vectors embedded in chunks so an interrupted run keeps its work).

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_head_calibration.py [--pools all|none|trec,emotion,...]

Writes ``calibration_heads.json`` and ``calibration_heads.md`` to ``--out``
(default ``benchmarks/results/<date>-cpu-head-calibration/``).
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

import eval_quality  # noqa: E402
from eval_calibration import BINS, ece, nll  # noqa: E402
from eval_quality import FILES, SHOT_SEEDS, _ci, boot_indices, classify_splits, shot_rows  # noqa: E402
from eval_zero_shot import ORDER, cached_vectors  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.models.heads import Head, softmax  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import (  # noqa: E402
    DEFAULT_C,
    DEFAULT_TEST_SIZE,
    calibrated,
    cross_validated_calibration,
    fit_logistic_regression,
    held_out_metrics,
    held_out_split,
    lr_logits,
)

CHUNK = 200


def log(started: float, line: str) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {line}", file=sys.stderr, flush=True)


def pool_vectors(cache: Path, name: str, texts: list[str], runtime, deadline: float, started: float) -> np.ndarray | None:
    """All pool rows' vectors, embedded in chunks (partial progress cached); ``None`` if the deadline stopped it."""
    done = cache / f"{name}-pool-{len(texts)}.npy"
    if done.exists():
        return np.load(done)
    part = cache / f"{name}-pool-{len(texts)}.partial.npy"
    have = np.load(part) if part.exists() else np.zeros((0, 0), dtype=np.float32)
    chunks = [have] if len(have) else []
    n = len(have)
    while n < len(texts):
        if time.perf_counter() - started > deadline:
            log(started, f"{name}: pool stopped by --deadline at {n}/{len(texts)} rows (partial cache kept)")
            return None
        chunks.append(text_vectors(texts[n : n + CHUNK], runtime))
        n += len(chunks[-1])
        np.save(part, np.concatenate(chunks))
        log(started, f"{name}: pool {n}/{len(texts)} rows embedded")
    vec = np.concatenate(chunks)
    np.save(done, vec)
    part.unlink(missing_ok=True)
    return vec


def shot_vectors(cache: Path, name: str, texts: list[str], rows: np.ndarray, runtime) -> np.ndarray:
    """Vectors of pool rows ``rows`` (sorted, unique), cached by the pool size and the rows."""
    path = cache / f"{name}-shots-pool{len(texts)}-{len(rows)}.npz"
    if path.exists():
        saved = np.load(path)
        if np.array_equal(saved["rows"], rows):
            return saved["vectors"]
    vec = text_vectors([texts[i] for i in rows], runtime)
    np.savez(path, rows=rows, vectors=vec)
    return vec


def fit_head(x: np.ndarray, y: np.ndarray, calibrate: bool) -> Head:
    """The head ``train_classifier(method='lr')`` stores for these rows (labels as strings, sorted): with
    ``calibrate``, as sqlml does since the held-out temperature (T from its default 20 % stratified split, seed 0,
    folded into the weights), else the plain fit (the head before that change)."""
    classes = sorted(set(y.tolist()))
    coef, intercept = fit_logistic_regression(x, y, DEFAULT_C, 0)
    if calibrate:
        split = held_out_split(y, DEFAULT_TEST_SIZE, 0)
        metrics = held_out_metrics(y, split, lambda train, test: lr_logits(x[train], y[train], x[test], DEFAULT_C, 0), "")
        if isinstance(split, str):  # too few rows for the split: cross-validated, as train_classifier does
            metrics["calibration"] = cross_validated_calibration(y, lambda train, test: lr_logits(x[train], y[train], x[test], DEFAULT_C, 0), 0, split)
        coef, intercept = calibrated(coef, intercept, metrics)
    return Head("calibration", 0, tuple(classes), coef, intercept, {})


def logits(head: Head, x: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The head's logits over all ``names`` (a label the head lacks gets -inf, probability 0)."""
    z = head.logits(x)
    out = np.full((len(x), len(names)), -np.inf)
    out[:, [names.index(c) for c in head.labels]] = z
    return out


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """One temperature ``T`` minimising the NLL of ``softmax(z / T)`` (search over log T in [-5, 5])."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda lt: nll(softmax(z / np.exp(lt)), y), bounds=(-5.0, 5.0), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def evaluate(heads_: list[Head], data: dict, names: tuple[str, ...], reps: int) -> dict:
    """Test metrics of one or more heads (means over heads), with the bootstrap interval of the mean ECE."""
    xt, yt = data["test"]
    xd, yd = data["dev"]
    idx = boot_indices(len(yt), reps)
    per: list[dict] = []
    boot = np.zeros(reps)
    boot_t = np.zeros(reps)
    for head in heads_:
        zt, zd = logits(head, xt, names), logits(head, xd, names)
        p = softmax(zt)
        t = fit_temperature(zd, yd)
        pt = softmax(zt / t)
        boot += np.array([ece(p[i], yt[i]) for i in idx])
        boot_t += np.array([ece(pt[i], yt[i]) for i in idx])
        per.append({"accuracy": 100 * float((p.argmax(axis=1) == yt).mean()), "ece": ece(p, yt),
                    "mean_confidence": 100 * float(p.max(axis=1).mean()), "nll": nll(p, yt),
                    "dev_temperature": t, "ece_after_t": ece(pt, yt), "nll_after_t": nll(pt, yt),
                    "mean_confidence_after_t": 100 * float(pt.max(axis=1).mean())})
    mean = {k: float(np.mean([r[k] for r in per])) for k in per[0]}
    mean["ece_ci"] = _ci(boot / len(heads_))
    mean["ece_after_t_ci"] = _ci(boot_t / len(heads_))
    mean["gap"] = mean["mean_confidence"] - mean["accuracy"]  # > 0: over-confident on average
    return {"mean": mean, "per_head": per}


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--pools", default="all", help="corpora whose whole capped train pool is embedded/used: all, none or a list")
    p.add_argument("--deadline", type=float, default=1e9, help="seconds after which no new pool chunk is embedded")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--cache", type=Path, default=root / ".bench-data" / "vectors-zs")
    p.add_argument("--train-cache", type=Path, default=root / ".bench-data" / "vectors-heads")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--shots", type=int, default=eval_quality.SHOTS, help="rows per label of the few-shot heads")
    args = p.parse_args()
    eval_quality.SHOTS = args.shots  # shot_rows draws this many per label
    pools = set(ORDER) if args.pools == "all" else set() if args.pools == "none" else set(args.pools.split(","))
    runtime = get_runtime(None, "cpu")
    args.train_cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    split_args = argparse.Namespace(max_dev=300, max_test=500, max_train=args.max_train)
    results: dict[str, dict] = {}
    pool_missing: list[str] = []
    for name in ORDER:
        splits = classify_splits(name, args.data, split_args)
        names = tuple(sorted(set(splits["test"][1]) | set(splits["dev"][1]) | set(splits["train"][1])))
        code = {lab: i for i, lab in enumerate(names)}
        data = {k: (cached_vectors(args.cache, name, k, splits[k][0], runtime), np.array([code[v] for v in splits[k][1]]))
                for k in ("dev", "test")}
        pool_x, pool_y = list(splits["train"][0]), np.array(splits["train"][1], dtype=object)
        drawn = {seed: shot_rows(np.array([code[v] for v in pool_y]), seed) for seed in SHOT_SEEDS}
        full = pool_vectors(args.train_cache, name, pool_x, runtime, args.deadline, started) if name in pools else None
        if full is None:
            needed = np.unique(np.concatenate(list(drawn.values())))
            vec = np.zeros((len(pool_x), data["test"][0].shape[1]), dtype=np.float32)
            vec[needed] = shot_vectors(args.train_cache, name, pool_x, needed, runtime)
        else:
            vec = full
        results[name] = {"labels": len(names), "pool_rows": len(pool_x), "shot_rows": [int(len(drawn[s])) for s in SHOT_SEEDS]}
        for suffix, calibrate in (("", False), ("_calibrated", True)):
            shot_heads = [fit_head(vec[drawn[s]], pool_y[drawn[s]], calibrate) for s in SHOT_SEEDS]
            results[name]["shots" + suffix] = evaluate(shot_heads, data, names, args.bootstrap)
            if full is not None:
                results[name]["pool" + suffix] = evaluate([fit_head(full, pool_y, calibrate)], data, names, args.bootstrap)
        if full is None:
            pool_missing.append(name)
        log(started, f"{name}: done ({'8-shot + pool' if full is not None else '8-shot only'})")
    seconds = time.perf_counter() - started

    cmd = f"PYTHONPATH=$PWD nice python benchmarks/eval_head_calibration.py {' '.join(sys.argv[1:])}".rstrip()
    lines = [f"Command: `{cmd}`", "",
             f"sqlml's LR head (`fit_logistic_regression`, C={DEFAULT_C:g}): the plain fit (as stored before the held-out "
             f"temperature) and as `train_classifier(method='lr')` stores it now (logits / T, T fitted on its 20 % held-out split, or by 5-fold cross-validation where a split needs more rows), "
             f"scored as `classify_scores` scores a head (softmax of the head's logits). Test split (500 rows) of "
             f"`eval_quality.classify_splits`; train pool capped at {args.max_train} rows; {eval_quality.SHOTS}/label = mean of seeds "
             f"{', '.join(map(str, SHOT_SEEDS))} (`shot_rows`). ECE × 100, {BINS} equal-width bins over the top label's "
             f"confidence, 95 % bootstrap interval ({args.bootstrap} resamples of test rows; for 8/label the five heads' "
             f"mean ECE per resample). Mean conf. = mean top-label probability × 100; gap = mean conf. − accuracy "
             f"(> 0 over-confident). Dev-T: one temperature on the logits fitted by NLL on dev (300 rows), per head — "
             f"information only, not what sqlml does.", "",
             "| corpus | head | accuracy | ECE [95 % CI] | mean conf. | gap | NLL | dev T | ECE after dev T [95 % CI] | NLL after dev T |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        for key, title in (("shots", f"{eval_quality.SHOTS}/label (5 seeds), plain fit"), ("shots_calibrated", f"{eval_quality.SHOTS}/label (5 seeds), **sqlml (held-out T)**"),
                           ("pool", "plain fit"), ("pool_calibrated", "**sqlml (held-out T)**")):
            if key not in r:
                lines.append(f"| {FILES[name][0]} | pool ({r['pool_rows']} rows) | not run | | | | | | | |")
                continue
            m = r[key]["mean"]
            shown = title if key.startswith("shots") else f"pool ({r['pool_rows']} rows), {title}"
            lines.append(f"| {FILES[name][0]} | {shown} | {m['accuracy']:.1f} | {m['ece']:.1f} [{m['ece_ci'][0]:.1f}, {m['ece_ci'][1]:.1f}] | "
                         f"{m['mean_confidence']:.1f} | {m['gap']:+.1f} | {m['nll']:.3f} | {m['dev_temperature']:.2f} | "
                         f"{m['ece_after_t']:.1f} [{m['ece_after_t_ci'][0]:.1f}, {m['ece_after_t_ci'][1]:.1f}] | {m['nll_after_t']:.3f} |")
    lines.append("")
    if pool_missing:
        lines.append(f"Pool heads not run for: {', '.join(FILES[n][0] for n in pool_missing)} (train-pool vectors not embedded).")
    lines.append(f"Run time {seconds:.0f} s (CPU, 2 cores shared; dev/test vectors cached, train vectors cached in "
                 f"`.bench-data/vectors-heads/` — times include whatever embedding this run had to do).")
    print("\n".join(lines))
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-head-calibration"
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration_heads.md").write_text("\n".join(lines) + "\n")
    (out / "calibration_heads.json").write_text(json.dumps(
        {"command": cmd, "bins": BINS, "c": DEFAULT_C, "shots_per_label": eval_quality.SHOTS, "shot_seeds": list(SHOT_SEEDS),
         "max_train": args.max_train, "max_dev": 300, "max_test": 500, "bootstrap": args.bootstrap,
         "pool_not_run": pool_missing, "seconds": round(seconds, 1), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
