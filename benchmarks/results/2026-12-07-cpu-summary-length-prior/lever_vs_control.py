"""Paired ΔROUGE-2 of the length lever against the same rule without it (dev and test), and how many texts it touches.

Run: PYTHONPATH=$PWD python benchmarks/results/2026-12-07-cpu-summary-length-prior/lever_vs_control.py OUT.json
"""
import sys, json
sys.path.insert(0, "benchmarks")
import numpy as np
import eval_summary_levers as e
V = e.Variant.parse
ctrl = V("lam=0.1,pos=lin,rank=score,boiler=1,cps=3.0")
pairs = [
    (V("lam=0.1,pos=lin,rank=score,boiler=1,cps=3.0,lamlong=0.5,m0=25,m1=45"), ctrl),
    (V("lam=0.1,pos=lin,rank=score,boiler=1,cps=3.0,lamlong=0.5,m0=30,m1=30"), ctrl),
    (V("lam=0.25,pos=lin,boiler=1,cps=3.0,lamlong=0.75,m0=25,m1=40"), e.CHOSEN),
]
rouge = e.Rouge()
out = []
print("| split | corpus | variant | vs | R-2 | ΔR-2 [95 %] | docs whose λ is raised (λ(m) > lam) | docs whose picks differ |")
print("|---|---|---|---|---:|---:|---:|---:|")
for split in ("dev", "test"):
    for name in ("cnndm", "bbc"):
        c = e.Corpus(name, split, rouge)
        for v, base in pairs:
            a, b = c.scores(v), c.scores(base)
            m = np.array([int((~bm).sum()) or len(bm) for bm in c.boiler])
            diff = sum(p != q for p, q in zip(c.picks(v), c.picks(base)))
            d = e.bootstrap(a[:, 1], b[:, 1])
            r = {"split": split, "corpus": name, "variant": v.name(), "vs": base.name(), "r2": float(a[:, 1].mean()),
                 "r2_vs": float(b[:, 1].mean()), "d_r2": d, "docs": len(m), "docs_lam_raised": int(sum(e.length_lam(v, int(k)) > v.lam for k in m)), "docs_changed": diff}
            out.append(r)
            print(f"| {split} | {name} | {v.name()} | {base.name()} | {r['r2']:.3f} | {d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}] | "
                  f"{r['docs_lam_raised']}/{len(m)} | {diff}/{len(m)} |")
json.dump(out, open(sys.argv[1], "w"), indent=1)
