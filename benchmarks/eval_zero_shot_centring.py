"""Zero-shot with text-side centring (issue 21 item 3): a row-dependent variant, measured before building it as an option.

"Text-centred": every row's embedding minus the mean embedding of the rows being classified (the split), then
renormalised, against the label vectors; "both-centred": the label vectors shifted by the same mean. Same corpora,
splits and cached vectors as ``eval_zero_shot.py`` (run that first: it fills ``.bench-data/vectors-zs/``).
Accuracy × 100 per corpus, dev and test.

    PYTHONPATH=$PWD python benchmarks/eval_zero_shot_centring.py
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import eval_zero_shot as z  # noqa: E402
from sqlml.engine.runtime import get_runtime  # noqa: E402


def main() -> None:
    runtime = get_runtime(None, "cpu")
    cf = z.unit(z.unit(z.text_vectors(list(z.CONTENT_FREE), runtime)).mean(axis=0))
    split_args = argparse.Namespace(max_dev=300, max_test=500, max_train=0)
    root = Path(__file__).resolve().parents[1]
    data, cache = root.parent / "shared" / "data", root / ".bench-data" / "vectors-zs"
    for split in ("dev", "test"):
        print("==", split)
        rows = {}
        for name in z.ORDER:
            splits = z.classify_splits(name, data, split_args)
            vec = z.cached_vectors(cache, name, split, splits[split][0], runtime)
            names = tuple(sorted(set(splits["test"][1]) | set(splits["dev"][1])))
            shown = tuple(n.replace("_", " ") for n in names) if name == "banking77" else names
            code = {lab: i for i, lab in enumerate(names)}
            y = np.array([code[lab] for lab in splits[split][1]])
            var = z.variants(shown, cf, runtime)
            u = z.unit(vec); centred = z.unit(u - u.mean(axis=0, keepdims=True))
            out = {}
            for v in ("bare", "tmpl", "bare+centre", "tmpl+centre"):
                lab, off = var[v]
                out[v] = 100 * np.mean(np.argmax(u @ lab.T, 1) == y)
                out[v + " | text-centred"] = 100 * np.mean(np.argmax(centred @ lab.T, 1) == y)
                # text-centred with label vectors centred by the text mean too (same shift in both spaces)
                labc = z.unit(lab - u.mean(axis=0, keepdims=True))
                out[v + " | both-centred"] = 100 * np.mean(np.argmax(centred @ labc.T, 1) == y)
            rows[name] = out
        vs = list(next(iter(rows.values())))
        print("variant".ljust(32), " ".join(n[:8].rjust(8) for n in rows), "   mean")
        for v in vs:
            print(v.ljust(32), " ".join(f"{rows[n][v]:8.1f}" for n in rows), f"{np.mean([rows[n][v] for n in rows]):7.1f}")


if __name__ == "__main__":
    main()
