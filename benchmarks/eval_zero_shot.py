"""Zero-shot calibration study (issue 21 item 3): row-independent label variants across six corpora.

Corpora and splits: ``eval_quality.classify_splits`` (imported, not copied) with ``--max-dev`` (default 300)
and ``--max-test`` (default 500) — the first N of eval_quality's seeded orders, so these rows are a subset of
eval_quality's larger caps. Every text is embedded once with sqlml's own ``text_vectors`` (what
``sqlml.classify`` uses) and cached in ``.bench-data/vectors-zs/<corpus>-<split>-<n>.npy`` (git-ignored).

Variants (all row-independent: the label scores of one row never depend on other rows):

* ``bare``: label vectors = embedding of the bare label name (template ``{label}``).
* ``tmpl``: sqlml's ``DEFAULT_TEMPLATE``.
* ``ens``: normalised mean of the bare and template label vectors.
* ``+centre``: label-mean centring: subtract the mean of the label vectors from each and renormalise
  (depends only on the label set).
* ``+cf``: content-free calibration (Zhao et al. 2021 style): from each label's cosine subtract that label's
  cosine with the content-free vector (normalised mean of ``text_vectors(['', 'N/A', '[MASK]'])``); ``+cf/2``
  subtracts half of it (in logit space, Zhao et al.'s division of probabilities by the content-free
  probabilities is exactly ``+cf``: softmax(s/T) / softmax(s_cf/T) ∝ exp((s − s_cf)/T)).
* combinations ``+centre+cf``.

Metrics: accuracy and macro-F1 × 100 (eval_quality's ``macro_f1_codes``); Δ = paired bootstrap (``--bootstrap``
resamples, eval_quality's ``boot_indices``, seed 12345) of accuracy vs ``bare`` on the same rows.
Selection (dev only): among variants that lose to ``bare`` on no dev corpus by more than noise (paired 95 %
interval upper bound < 0), the best mean dev accuracy over the corpora; its test numbers are then reported.

Usage (repository root)::

    PYTHONPATH=$PWD python benchmarks/eval_zero_shot.py
    PYTHONPATH=$PWD python benchmarks/eval_zero_shot.py --corpora trec,emotion --embed-only
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from eval_quality import CLASSIFY_CORPORA, FILES, _ci, boot_indices, classify_splits, macro_f1_codes  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402
from sqlml.ops.classify.core import DEFAULT_TEMPLATE, label_vectors  # noqa: E402
from sqlml.ops.classify.long_text import text_vectors  # noqa: E402

CONTENT_FREE = ("", "N/A", "[MASK]")
ORDER = ("trec", "emotion", "banking77", "reuters_r8", "bbc_topics", "newsgroups20")  # cheap first


def unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def cached_vectors(cache: Path, name: str, split: str, texts: list[str], runtime) -> np.ndarray:
    path = cache / f"{name}-{split}-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    vec = text_vectors(list(texts), runtime)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vec)
    return vec


def variants(shown: tuple[str, ...], cf: np.ndarray, runtime) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """{name: (label matrix (k, d) unit rows, content-free offset (k,) or None)}."""
    bare = unit(label_vectors(shown, "{label}", runtime))
    tmpl = unit(label_vectors(shown, DEFAULT_TEMPLATE, runtime))
    bases = {"bare": bare, "tmpl": tmpl, "ens": unit(bare + tmpl)}
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for base, lab in bases.items():
        centred = unit(lab - lab.mean(axis=0, keepdims=True))
        out[base] = (lab, None)
        out[f"{base}+centre"] = (centred, None)
        for tag, alpha in (("cf", 1.0), ("cf/2", 0.5)):
            out[f"{base}+{tag}"] = (lab, alpha * (lab @ cf))
            out[f"{base}+centre+{tag}"] = (centred, alpha * (centred @ cf))
    return out


def score(vec: np.ndarray, lab: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
    s = unit(vec) @ lab.T
    if offset is not None:
        s = s - offset[None, :]
    return np.argmax(s, axis=1)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    p.add_argument("--corpora", default="all", help=f"comma-separated subset of {','.join(CLASSIFY_CORPORA)}")
    p.add_argument("--max-dev", type=int, default=300)
    p.add_argument("--max-test", type=int, default=500)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--cache", type=Path, default=root / ".bench-data" / "vectors-zs")
    p.add_argument("--embed-only", action="store_true", help="embed and cache, no scoring")
    args = p.parse_args()
    corpora = [c for c in ORDER if args.corpora == "all" or c in args.corpora.split(",")]
    split_args = argparse.Namespace(max_dev=args.max_dev, max_test=args.max_test, max_train=0)
    runtime = get_runtime(None, "cpu")
    started = time.perf_counter()
    cf = unit(unit(text_vectors(list(CONTENT_FREE), runtime)).mean(axis=0))
    results: dict[str, dict[str, dict[str, dict]]] = {}  # split -> corpus -> variant -> numbers
    for name in corpora:
        t0 = time.perf_counter()
        splits = classify_splits(name, args.data, split_args)
        vec = {k: cached_vectors(args.cache, name, k, splits[k][0], runtime) for k in ("dev", "test")}
        print(f"[{time.perf_counter() - started:5.0f} s] {name}: dev {len(vec['dev'])}, test {len(vec['test'])} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        if args.embed_only:
            continue
        names = tuple(sorted(set(splits["test"][1]) | set(splits["dev"][1])))
        shown = tuple(n.replace("_", " ") for n in names) if name == "banking77" else names
        code = {lab: i for i, lab in enumerate(names)}
        for k in ("dev", "test"):
            y = np.array([code[lab] for lab in splits[k][1]])
            idx = boot_indices(len(y), args.bootstrap)
            preds = {v: score(vec[k], lab, off) for v, (lab, off) in variants(shown, cf, runtime).items()}
            ref = (preds["bare"] == y).astype(np.float64)
            for v, pred in preds.items():
                d = (pred == y) - ref
                results.setdefault(k, {}).setdefault(name, {})[v] = {
                    "acc": 100 * float((pred == y).mean()), "f1": 100 * macro_f1_codes(y, pred, len(names)),
                    "delta": 100 * float(d.mean()), "ci": _ci(100 * d[idx].mean(axis=1)), "n": len(y)}
    seconds = time.perf_counter() - started
    if args.embed_only:
        print(f"embedded in {seconds:.0f} s", file=sys.stderr)
        return
    dev, test = results["dev"], results["test"]
    allv = list(next(iter(dev.values())))
    mean_dev = {v: float(np.mean([dev[c][v]["acc"] for c in corpora])) for v in allv}
    safe = [v for v in allv if all(dev[c][v]["ci"][1] >= 0 for c in corpora)]
    chosen = max(safe, key=lambda v: mean_dev[v])
    label = {c: FILES[c][0] for c in corpora}
    cmd = "PYTHONPATH=$PWD python benchmarks/eval_zero_shot.py " + " ".join(sys.argv[1:])
    lines = [f"Command: `{cmd.strip()}`; run time {seconds:.0f} s (CPU, 2 cores; vectors cached in {args.cache.name}/).", ""]
    for split, res in (("dev", dev), ("test", test)):
        ns = ", ".join(f"{label[c]} {res[c]['bare']['n']}" for c in corpora)
        lines += [f"**{split}** (n: {ns}). Accuracy / macro-F1 × 100; Δ = accuracy vs bare, paired bootstrap 95 %.", "",
                  "| variant | " + " | ".join(label[c] for c in corpora) + " | mean acc |",
                  "|---|" + "---:|" * (len(corpora) + 1)]
        for v in allv:
            cells = []
            for c in corpora:
                r = res[c][v]
                cell = f"{r['acc']:.1f} / {r['f1']:.1f}"
                if v != "bare":
                    cell += f" ({r['delta']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}])"
                cells.append(cell)
            mean = float(np.mean([res[c][v]["acc"] for c in corpora]))
            name = f"**{v}**" if v == chosen else v
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean:.1f} |")
        lines.append("")
    lines.append(f"Chosen on dev: **{chosen}** (mean dev accuracy {mean_dev[chosen]:.1f} vs bare {mean_dev['bare']:.1f}; "
                 f"no dev corpus where it loses beyond the paired interval). Safe variants (dev mean): "
                 f"{', '.join(f'{v} {mean_dev[v]:.1f}' for v in sorted(safe, key=lambda v: -mean_dev[v]))}; "
                 f"best dev mean overall: {max(allv, key=lambda v: mean_dev[v])}.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
