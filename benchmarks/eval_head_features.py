"""A cheap lever for trained heads: logistic regression over [frozen embedding ⊕ TF-IDF of the text] (issue 21 item 4).

``eval_finetune.py`` fine-tuned the encoder; this script keeps the encoder frozen and widens the head's input.
Three heads are trained on the same rows and scored on the same rows:

* **LR (sqlml, C = 10)**: ``train_classifier``'s head (``fit_logistic_regression``, ``C = DEFAULT_C``, seed 0) on
  ``text_vectors`` (all-MiniLM-L6-v2, unit rows): the reference of every Δ;
* **LR, tuned C** (control): the same head with one ``C`` from ``C_GRID`` chosen on the dev splits;
* **LR + TF-IDF**: sklearn ``LogisticRegression`` (lbfgs, ``max_iter=2000``, seed 0) over
  ``[w · embedding ⊕ TF-IDF(text)]``, the TF-IDF block fitted on the head's own training texts only
  (``TfidfVectorizer``, sublinear tf, l2 rows; word 1–2-grams, char_wb 2–5-grams, or both with each block
  scaled by 1/√2 so that the TF-IDF block stays a unit row); ``(feature set, w, C)`` from ``FEATURE_SETS ×
  W_GRID × TFIDF_C_GRID`` chosen on the dev splits.

Rows (``eval_quality.classify_splits`` with dev 300, test 500, train pool capped at 2,000, as
``eval_head_calibration.py`` / ``eval_finetune.py``): 8 rows per label (``eval_quality.shot_rows``, seeds 0–4,
numbers are means over the five heads) and the whole capped pool; and, with ``--full banking77`` (default),
Banking77's whole train file minus the dev rows (9,703 rows) against its first 1,000 test rows (the split of
``benchmarks/results/2026-12-07-cpu-finetune-banking77-full``).

Selection (``--stage dev``, also the first half of ``--stage all``): every configuration is scored on the dev
splits; per regime (8/label; pool) the configuration with the best mean dev accuracy over the six corpora (8/label:
also over the five seeds) is chosen, one for all corpora — a default sqlml could ship. The Banking77 whole-train
heads use the pool regime's choice. Dev predictions are cached in ``--dev-cache`` so an interrupted run resumes.
Stage ``test`` (after dev, in the same run) fits only the chosen heads and scores the test splits: accuracy and
macro-F1 × 100 with 95 % bootstrap intervals, Δ accuracy = paired bootstrap against LR (sqlml, C = 10) over the same
test rows (``eval_quality.classify_rows``, 1,000 resamples, seed 12345), plus Δ of LR + TF-IDF against the tuned-C
control. Training time per head = TF-IDF fit + LR fit on the training rows (2-core CPU, niced, shared), embedding
excluded (the same for all three heads; the embedding time of Banking77's whole train file is logged separately).

Vectors: dev/test from ``.bench-data/vectors-zs/`` (``eval_zero_shot.cached_vectors``'s names), capped pools from
``.bench-data/vectors-heads/`` (``eval_head_calibration.pool_vectors``); what is missing is embedded with
``text_vectors`` and cached in ``.bench-data/vectors-heads/`` (Banking77's whole pool reuses the 2,000 cached rows
and embeds the other 7,703; its 1,000 test rows reuse the 500 cached ones).

Usage (repository root)::

    nice -n 19 env PYTHONPATH=$PWD python benchmarks/eval_head_features.py [--stage all|dev] [--corpora all|trec,...]

Writes ``head_features.json`` and ``head_features.md`` to ``--out``
(default ``benchmarks/results/<date>-cpu-head-features/``).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import eval_quality as q  # noqa: E402
from eval_head_calibration import pool_vectors  # noqa: E402
from eval_zero_shot import ORDER  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402
from sqlml.ops.classify.train import DEFAULT_C, fit_logistic_regression  # noqa: E402

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
FEATURE_SETS = {
    "word 1-2": (("word", (1, 2)),),
    "char_wb 2-5": (("char_wb", (2, 5)),),
    "word 1-2 + char_wb 2-5": (("word", (1, 2)), ("char_wb", (2, 5))),
}
W_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)
TFIDF_C_GRID = (10.0, 100.0)
REF = f"LR (sqlml, C={DEFAULT_C:g})"
CHUNK = 200


def configs() -> list[dict]:
    out = [{"kind": "emb", "c": c} for c in C_GRID]
    out += [{"kind": "tfidf", "features": f, "w": w, "c": c} for f, w, c in itertools.product(FEATURE_SETS, W_GRID, TFIDF_C_GRID)]
    return out


def key(cfg: dict) -> str:
    if cfg["kind"] == "emb":
        return f"emb C={cfg['c']:g}"
    return f"tfidf [{cfg['features']}] w={cfg['w']:g} C={cfg['c']:g}"


# --------------------------------------------------------------------------------------------------
# Heads


class Head:
    """One trained head: predicts integer codes for (vectors, texts); ``seconds`` = TF-IDF + LR fit time."""

    def __init__(self, cfg: dict, x: np.ndarray, texts: list[str], y: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.cfg = cfg
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if cfg["kind"] == "emb":  # exactly sqlml's fit
                self.classes = np.array(sorted(set(y.tolist())))
                self.coef, self.intercept = fit_logistic_regression(x, y, cfg["c"], 0)
            else:
                blocks = FEATURE_SETS[cfg["features"]]
                self.vectorizers = [TfidfVectorizer(sublinear_tf=True, analyzer=a, ngram_range=r, dtype=np.float32) for a, r in blocks]
                self.scale = 1.0 / np.sqrt(len(blocks))
                tf = [v.fit_transform(texts) for v in self.vectorizers]
                self.clf = LogisticRegression(C=cfg["c"], max_iter=2000, random_state=0)
                self.clf.fit(self._stack(x, tf), y)
        self.seconds = time.perf_counter() - started
        self.unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)

    def _stack(self, x: np.ndarray, tf: list) -> sp.csr_matrix:
        return sp.hstack([sp.csr_matrix(self.cfg["w"] * x)] + [self.scale * t for t in tf]).tocsr()

    def predict(self, x: np.ndarray, texts: list[str]) -> np.ndarray:
        if self.cfg["kind"] == "emb":
            return self.classes[np.argmax(x @ self.coef.T + self.intercept, axis=1)]
        return self.clf.predict(self._stack(x, [v.transform(texts) for v in self.vectorizers]))


# --------------------------------------------------------------------------------------------------
# Vectors


def split_vectors(args: argparse.Namespace, name: str, split: str, texts: list[str], runtime) -> np.ndarray:
    """Vectors of a dev/test split: the shared cache if it has them, else embedded into ``--train-cache``."""
    for folder in (args.cache, args.train_cache):
        path = folder / f"{name}-{split}-{len(texts)}.npy"
        if path.exists():
            return np.load(path)
    vec = text_vectors(list(texts), runtime)
    np.save(args.train_cache / f"{name}-{split}-{len(texts)}.npy", vec)
    return vec


def superset_vectors(path: Path, texts: list[str], ids: np.ndarray, known: dict[int, np.ndarray], runtime, log) -> tuple[np.ndarray, float]:
    """Vectors of rows ``ids`` (source row numbers, with ``texts``), reusing ``known`` row vectors and embedding the
    rest in chunks (partial progress cached beside ``path``). Returns (vectors, seconds spent embedding)."""
    if path.exists():
        return np.load(path), 0.0
    missing = [j for j, i in enumerate(ids) if int(i) not in known]
    part = path.with_suffix(".partial.npy")
    have = np.load(part) if part.exists() else np.zeros((0, 384), dtype=np.float32)
    chunks = [have] if len(have) else []
    n = len(have)
    started = time.perf_counter()
    while n < len(missing):
        chunks.append(text_vectors([texts[j] for j in missing[n : n + CHUNK]], runtime))
        n += len(chunks[-1])
        np.save(part, np.concatenate(chunks))
        log(f"{path.name}: {n}/{len(missing)} missing rows embedded")
    seconds = time.perf_counter() - started
    new = np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
    dim = new.shape[1] if len(new) else next(iter(known.values())).shape[0]
    vec = np.zeros((len(ids), dim), dtype=np.float32)
    for j, i in enumerate(ids):
        if int(i) in known:
            vec[j] = known[int(i)]
    vec[missing] = new
    np.save(path, vec)
    part.unlink(missing_ok=True)
    return vec, seconds


def source_rows(name: str, data: Path, caps: argparse.Namespace) -> dict[str, np.ndarray]:
    """Source row numbers (in the test / train files) of ``classify_splits``'s test and train splits (non-BBC)."""
    _, test_file, train_file, text, label = q.FILES[name]
    n_test = len(q.read(data, test_file, text, label)[0])
    n_train = len(q.read(data, train_file, text, label)[0])
    order = np.random.default_rng(1).permutation(n_train)
    dev = q.first(order, caps.max_dev)
    return {"test": np.sort(q.first(np.random.default_rng(0).permutation(n_test), caps.max_test)),
            "train": np.sort(q.first(order[len(dev):], caps.max_train))}


# --------------------------------------------------------------------------------------------------
# Corpora


def load(args: argparse.Namespace, name: str, runtime, log) -> dict:
    caps = argparse.Namespace(max_dev=args.max_dev, max_test=args.max_test, max_train=args.max_train)
    splits = q.classify_splits(name, args.data, caps)
    names = tuple(sorted(set(splits["test"][1]) | set(splits["dev"][1]) | set(splits["train"][1])))
    code = {lab: i for i, lab in enumerate(names)}
    out = {"names": names, "texts": {k: list(v[0]) for k, v in splits.items()},
           "y": {k: np.array([code[v] for v in splits[k][1]]) for k in splits}}
    out["x"] = {k: split_vectors(args, name, k, out["texts"][k], runtime) for k in ("dev", "test")}
    out["x"]["train"] = pool_vectors(args.train_cache, name, out["texts"]["train"], runtime, 1e12, time.perf_counter())
    out["shots"] = {seed: q.shot_rows(out["y"]["train"], seed) for seed in q.SHOT_SEEDS}
    return out


def load_full(args: argparse.Namespace, name: str, capped: dict, runtime, log) -> dict:
    """The whole train file minus dev (and the first ``--full-test`` test rows), reusing the capped splits' vectors."""
    small = argparse.Namespace(max_dev=args.max_dev, max_test=args.max_test, max_train=args.max_train)
    big = argparse.Namespace(max_dev=args.max_dev, max_test=args.full_test, max_train=None)
    splits = q.classify_splits(name, args.data, big)
    code = {lab: i for i, lab in enumerate(capped["names"])}
    rows_small, rows_big = source_rows(name, args.data, small), source_rows(name, args.data, big)
    out = {"names": capped["names"], "texts": {k: list(v[0]) for k, v in splits.items()},
           "y": {k: np.array([code[v] for v in splits[k][1]]) for k in splits}, "x": {"dev": capped["x"]["dev"]}, "embed_seconds": {}}
    for split in ("train", "test"):
        known = {int(i): v for i, v in zip(rows_small[split], capped["x"][split], strict=True)}
        path = args.train_cache / f"{name}-{'pool' if split == 'train' else 'test'}-{len(rows_big[split])}.npy"
        out["x"][split], seconds = superset_vectors(path, out["texts"][split], rows_big[split], known, runtime, log)
        out["embed_seconds"][split] = {"seconds": round(seconds, 1), "rows": len(rows_big[split]) - len(known)}
    return out


# --------------------------------------------------------------------------------------------------
# Stages


def dev_stage(args: argparse.Namespace, corpora: dict[str, dict], log) -> tuple[dict, dict]:
    """Dev accuracy of every configuration (cached); returns (per-config means per regime, the choice per regime)."""
    cache = json.loads(args.dev_cache.read_text()) if args.dev_cache.exists() else {}
    for name, d in corpora.items():
        xd, td, yd = d["x"]["dev"], d["texts"]["dev"], d["y"]["dev"]
        runs = [("shots", seed, d["shots"][seed]) for seed in q.SHOT_SEEDS] + [("pool", 0, np.arange(len(d["y"]["train"])))]
        for regime, seed, rows in runs:
            started = time.perf_counter()
            tx = [d["texts"]["train"][i] for i in rows]
            for cfg in configs():
                k = f"{name}|{regime}|{seed}|{key(cfg)}"
                if k in cache:
                    continue
                head = Head(cfg, d["x"]["train"][rows], tx, d["y"]["train"][rows])
                pred = head.predict(xd, td)
                cache[k] = {"accuracy": 100 * float((pred == yd).mean()), "seconds": head.seconds, "unconverged": head.unconverged}
            args.dev_cache.write_text(json.dumps(cache))
            log(f"dev {name} {regime} seed {seed}: {len(configs())} configurations, {time.perf_counter() - started:.0f} s")
    means: dict[str, dict[str, float]] = {"shots": {}, "pool": {}}
    per_corpus: dict[str, dict[str, dict[str, float]]] = {"shots": {}, "pool": {}}
    for regime, seeds in (("shots", q.SHOT_SEEDS), ("pool", (0,))):
        for cfg in configs():
            by = {n: float(np.mean([cache[f"{n}|{regime}|{s}|{key(cfg)}"]["accuracy"] for s in seeds])) for n in corpora}
            per_corpus[regime][key(cfg)] = by
            means[regime][key(cfg)] = float(np.mean(list(by.values())))
    choice = {}
    for regime in means:
        for kind in ("emb", "tfidf"):
            cands = [c for c in configs() if c["kind"] == kind]
            choice[f"{regime}|{kind}"] = max(cands, key=lambda c: means[regime][key(c)])  # first best on ties (grid order)
    return {"means": means, "per_corpus": per_corpus, "cache": cache}, choice


def test_heads(d: dict, rows: np.ndarray, heads: dict[str, dict], split: str) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, int]]:
    tx = [d["texts"]["train"][i] for i in rows]
    preds, seconds, unconverged = {}, {}, {}
    for method, cfg in heads.items():
        head = Head(cfg, d["x"]["train"][rows], tx, d["y"]["train"][rows])
        preds[method] = head.predict(d["x"][split], d["texts"][split]).astype(np.int64)
        seconds[method], unconverged[method] = head.seconds, head.unconverged
    return preds, seconds, unconverged


def paired(true: np.ndarray, a: list[np.ndarray], b: list[np.ndarray], reps: int) -> dict:
    """Paired bootstrap of accuracy (× 100) of runs ``a`` minus runs ``b`` (each a mean over its runs, per row)."""
    idx = q.boot_indices(len(true), reps)
    d = np.mean([p == true for p in a], axis=0) - np.mean([p == true for p in b], axis=0)
    return {"value": 100 * float(d.mean()), "ci": q._ci(100 * d[idx].mean(axis=1))}


def test_stage(args: argparse.Namespace, corpora: dict[str, dict], choice: dict, full: dict[str, dict], log) -> tuple[list, list]:
    rows_out: list[q.Row] = []
    timings: list[dict] = []
    for name, d in list(corpora.items()) + [(f"{n} (whole train)", f) for n, f in full.items()]:
        whole = name.endswith("(whole train)")
        regimes = [("pool", [np.arange(len(d["y"]["train"]))])] if whole else \
            [("shots", [d["shots"][s] for s in q.SHOT_SEEDS]), ("pool", [np.arange(len(d["y"]["train"]))])]
        for regime, draws in regimes:
            tuned, tf = choice[f"{regime}|emb"], choice[f"{regime}|tfidf"]
            heads = {REF: {"kind": "emb", "c": DEFAULT_C}, f"LR, tuned C={tuned['c']:g}": tuned,
                     f"LR + TF-IDF [{tf['features']}], w={tf['w']:g}, C={tf['c']:g}": tf}
            preds: dict[str, list[np.ndarray]] = {m: [] for m in heads}
            secs: dict[str, list[float]] = {m: [] for m in heads}
            unconv: dict[str, int] = dict.fromkeys(heads, 0)
            started = time.perf_counter()
            for rows in draws:
                p, s, u = test_heads(d, rows, heads, "test")
                for m in heads:
                    preds[m].append(p[m])
                    secs[m].append(s[m])
                    unconv[m] += u[m]
            label = f"{regime} ({len(draws[0]):,} rows)" if regime == "pool" else f"8/label (mean of {len(draws)} seeds)"
            true = d["y"]["test"]
            rs = q.classify_rows(name, label, true, preds, len(d["names"]), REF, args.bootstrap)
            names = list(heads)
            rs[2].extra["delta_vs_tuned_c"] = paired(true, preds[names[2]], preds[names[1]], args.bootstrap)
            if whole:  # dev accuracy of the whole-train heads too (dev rows are not in the pool)
                for m, cfg in heads.items():
                    h = Head(cfg, d["x"]["train"], d["texts"]["train"], d["y"]["train"])
                    next(r for r in rs if r.method == m).extra["dev_accuracy"] = 100 * float((h.predict(d["x"]["dev"], d["texts"]["dev"]) == d["y"]["dev"]).mean())
            for r in rs:
                r.extra["train_seconds"] = {"mean": float(np.mean(secs[r.method])), "max": float(np.max(secs[r.method]))}
                r.extra["unconverged_fits"] = unconv[r.method]
            rows_out += rs
            timings.append({"corpus": name, "regime": label, "rows": [int(len(r)) for r in draws],
                            "seconds": {m: [round(x, 2) for x in v] for m, v in secs.items()}})
            log(f"test {name} {label}: " + ", ".join(f"{r.method} {r.metrics['accuracy']:.1f}" for r in rs)
                + f" ({time.perf_counter() - started:.0f} s)")
    return rows_out, timings


# --------------------------------------------------------------------------------------------------
# Output


def write(args: argparse.Namespace, out: Path, dev: dict, choice: dict, rows: list, timings: list, full: dict, log_lines: list[str],
          seconds: float) -> None:
    cmd = "nice -n 19 env PYTHONPATH=$PWD python benchmarks/eval_head_features.py " + " ".join(sys.argv[1:])
    md = [f"Command: `{cmd.rstrip()}`", f"Device: {q.device_name()}; run time {seconds:.0f} s (2 cores shared with another job, niced).",
          f"Splits: `eval_quality.classify_splits`, dev {args.max_dev}, test {args.max_test}, train pool ≤ {args.max_train}; 8/label = "
          f"`shot_rows` seeds {', '.join(map(str, q.SHOT_SEEDS))}. Whole train: train file minus dev vs the first {args.full_test} test rows.", ""]
    md += ["### Dev: mean accuracy over the corpora (8/label: and over the 5 seeds); chosen per regime", ""]
    for regime in ("shots", "pool"):
        ranked = sorted(dev["means"][regime].items(), key=lambda kv: -kv[1])
        ref = dev["means"][regime][f"emb C={DEFAULT_C:g}"]
        md += [f"**{'8/label' if regime == 'shots' else 'pool'}** (LR C={DEFAULT_C:g}: {ref:.2f}); chosen: "
               f"{key(choice[regime + '|emb'])} ({dev['means'][regime][key(choice[regime + '|emb'])]:.2f}), "
               f"{key(choice[regime + '|tfidf'])} ({dev['means'][regime][key(choice[regime + '|tfidf'])]:.2f})", "",
               "| configuration | mean dev acc | " + " | ".join(dev["per_corpus"][regime][ranked[0][0]]) + " |",
               "|---|---:|" + "---:|" * len(dev["per_corpus"][regime][ranked[0][0]])]
        for k, v in ranked[:10] + [kv for kv in ranked[10:] if kv[0].startswith("emb")]:
            md.append(f"| {k} | {v:.2f} | " + " | ".join(f"{x:.1f}" for x in dev["per_corpus"][regime][k].values()) + " |")
        md.append("")
    md += ["### Test", "", "Accuracy / macro-F1 × 100 [95 % bootstrap]; Δ = paired bootstrap of accuracy vs "
           f"{REF} (8/label: per row, mean over the 5 heads); Δ tuned = LR + TF-IDF vs the tuned-C control. "
           "Train s = TF-IDF + LR fit per head, mean (max).", "",
           "| corpus | rows | head | accuracy | macro-F1 | Δ acc vs LR C=10 | Δ vs tuned C | seed sd | train s |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        delta = "" if r.delta is None else f"{r.delta['value']:+.1f} [{r.delta['ci'][0]:+.1f}, {r.delta['ci'][1]:+.1f}]"
        dt = r.extra.get("delta_vs_tuned_c")
        dts = "" if dt is None else f"{dt['value']:+.1f} [{dt['ci'][0]:+.1f}, {dt['ci'][1]:+.1f}]"
        sd = f"{r.extra['seed_sd_accuracy']:.1f}" if "seed_sd_accuracy" in r.extra else ""
        t = r.extra["train_seconds"]
        md.append(f"| {r.corpus} | {r.split} | {r.method} | {q.fmt(r.metrics['accuracy'], r.ci['accuracy'])} | "
                  f"{q.fmt(r.metrics['macro_f1'], r.ci['macro_f1'])} | {delta} | {dts} | {sd} | {t['mean']:.1f} ({t['max']:.1f}) |")
    unconv = [f"{r.corpus} {r.split} {r.method}: {r.extra['unconverged_fits']}" for r in rows if r.extra.get("unconverged_fits")]
    md += ["", "lbfgs fits that hit max_iter (test stage): " + ("; ".join(unconv) if unconv else "none")]
    for name, f in full.items():
        md.append(f"Whole-train {name}: embedding the rows not already cached: " +
                  ", ".join(f"{k} {v['rows']} rows in {v['seconds']} s" for k, v in f["embed_seconds"].items()) +
                  " (0 s = read from an earlier run's cache). Dev accuracy (300 dev rows) of its heads: " +
                  ", ".join(f"{r.method} {r.extra['dev_accuracy']:.1f}" for r in rows if "dev_accuracy" in r.extra))
    md += ["", "Log:", ""] + [f"- {line}" for line in log_lines]
    print("\n".join(md))
    out.mkdir(parents=True, exist_ok=True)
    (out / "head_features.md").write_text("\n".join(md) + "\n")
    payload = {"command": cmd, "device": q.device_name(), "seconds": round(seconds, 1), "date": datetime.date.today().isoformat(),
               "caps": {"max_dev": args.max_dev, "max_test": args.max_test, "max_train": args.max_train, "full_test": args.full_test},
               "grid": {"emb_c": list(C_GRID), "feature_sets": {k: [list(b) for b in v] for k, v in FEATURE_SETS.items()},
                        "w": list(W_GRID), "tfidf_c": list(TFIDF_C_GRID)},
               "dev_means": dev["means"], "dev_per_corpus": dev["per_corpus"], "choice": choice,
               "dev_seconds": {k: v["seconds"] for k, v in dev["cache"].items()},
               "timings": timings, "log": log_lines, "rows": [r.__dict__ for r in rows]}
    (out / "head_features.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nwrote {out / 'head_features.json'} and head_features.md", file=sys.stderr)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    p.add_argument("--stage", choices=["all", "dev"], default="all", help="dev: the grid on the dev splits only; all: dev, then test")
    p.add_argument("--corpora", default="all")
    p.add_argument("--full", default="banking77", help="corpora also trained on their whole train file (minus dev); '' for none")
    p.add_argument("--full-test", type=int, default=1000, help="test rows for the whole-train heads")
    p.add_argument("--max-test", type=int, default=500)
    p.add_argument("--max-dev", type=int, default=300)
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--cache", type=Path, default=root / ".bench-data" / "vectors-zs")
    p.add_argument("--train-cache", type=Path, default=root / ".bench-data" / "vectors-heads")
    p.add_argument("--dev-cache", type=Path, default=root / ".bench-data" / "vectors-heads" / "head-features-dev.json")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    names = ORDER if args.corpora == "all" else tuple(args.corpora.split(","))
    args.train_cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log_lines: list[str] = []

    def log(line: str) -> None:
        log_lines.append(f"[{time.perf_counter() - started:6.0f} s] {line}")
        print(log_lines[-1], file=sys.stderr, flush=True)

    runtime = get_runtime(None, "cpu")
    corpora = {n: load(args, n, runtime, log) for n in names}
    dev, choice = dev_stage(args, corpora, log)
    log("chosen: " + "; ".join(f"{k}: {key(c)}" for k, c in choice.items()))
    if args.stage == "dev":
        for regime in ("shots", "pool"):
            for k, v in sorted(dev["means"][regime].items(), key=lambda kv: -kv[1])[:8]:
                print(f"{regime} {k}: {v:.2f}")
        return
    full = {n: load_full(args, n, corpora[n], runtime, log) for n in args.full.split(",") if n and n in corpora}
    rows, timings = test_stage(args, corpora, choice, full, log)
    out = args.out or root / "benchmarks" / "results" / f"{datetime.date.today().isoformat()}-cpu-head-features"
    write(args, out, dev, choice, rows, timings, full, log_lines, time.perf_counter() - started)


if __name__ == "__main__":
    main()
