"""Levers for the default summary rule, measured on fixed dev/test splits of two news corpora (issue 21).

Corpora and splits (the rule of ``benchmarks/eval_quality.py``):

* CNN/DM train 100 (``cnndm_train100.parquet``, rows sorted by id): ``p = default_rng(0).permutation(100)``,
  test = ``p[:50]``, dev = ``p[50:]``.
* BBC News Summary (2,225 rows, file order): ``p = default_rng(0).permutation(2225)``, dev = positions
  [300, 600) and [1413, 2225) of ``p``, test = positions [0, 300) and [600, 1413).

Every document is split with sqlml's splitter (``split_texts``) and its sentences embedded ONCE with the
default model on CPU; the vectors are cached in ``.bench-data/vectors/<corpus>.npz`` (keyed by document
id) and every variant is scored from them. k-means labels depend only on k, so they are computed once
per corpus (``kmeans_batched``, the code path of ``summarize``, seed 0) and the variants change only the
score and the selection. Variants (:class:`Variant`):

* ``lam``, ``pos``: a position prior added to every sentence's score, ``lam * f(position)``, with
  ``f = 1 / (1 + position)`` (``inv``) or ``1 - position / sentences`` (``lin``); the position counts
  the eligible sentences only (a byline before the first sentence does not push it down).
* ``rank``: clusters ranked by size then representative score (``size``, today), or by the
  representative's score (``score``: PacSum-style, the position prior then orders the clusters too).
* ``boiler``: boilerplate sentences (``BOILERPLATE`` patterns: bylines, ``PUBLISHED: … UPDATED:``,
  ``Last updated at``, ``Scroll down for video``, photo credits) are never representatives while
  another sentence exists; ``min_words``: shorter sentences likewise.
* ``cent``: the centrality term of the score, weighted by ``cw``: ``doc`` (today) the cosine to the text's
  centroid; ``dir`` PacSum's directional centrality (Zheng & Lapata 2019) over the text's eligible
  sentences (``graph=elig``; ``graph=all``: every sentence): ``e_ij`` the cosine of sentences i, j;
  ``e'_ij = max(0, e_ij - (min + beta * (max - min)))`` with min, max over the off-diagonal ``e_ij``;
  ``c_i = l1 * sum_{j<i} e'_ij + l2 * sum_{j>i} e'_ij`` (``l1 <= 0``: a sentence that earlier ones resemble
  loses), scaled by ``cnorm``: ``m`` divides by the number m of graph sentences, ``minmax`` maps the
  text's c to [0, 1]. ``rank=cent`` ranks clusters by the representative's scaled ``c`` (then by score);
  ``doc+dir`` keeps the text-centroid term (weight ``cw``) and adds the directional one with weight ``dw``.
* Length-dependent position prior (:func:`length_lam`; off by default), λ as a function of the text's number m
  of eligible sentences (the m of ``pos=lin``: not boilerplate with ``boiler=1``, not under ``min_words``):
  ``lamlong`` (>= 0: on) ramps λ from ``lam`` at m <= ``m0`` to ``lamlong`` at m >= ``m1``, linear in between
  (``m1 <= m0``: a step at ``m1``); ``gamma`` (!= 0: on) scales it as ``lam * (m / mref) ** gamma``. The ``mstats``
  command prints the distribution of m per corpus and split; ``grid --grid length`` scores :func:`grid_length`
  (51 variants), ``--grid length2`` a second pass of 12 (:func:`grid_length2`).

ROUGE-1/2/L F1 × 100 (``rouge-score``, Porter stemmer) against the reference, n = 3. Test: paired
bootstrap (1,000 resamples of documents, ``default_rng(12345)``) of the ROUGE-2 difference against
LEAD-3 and against today's default (``--vs-chosen``: also against CHOSEN, sqlml's DEFAULT_RULE); 95 %
percentile intervals. ``grid --grid pacsum`` scores the directional-centrality grid (:func:`grid_pacsum`).

Word budget (``max_words``, ``budget``; off by default): the clusters are ranked as the rule ranks them (the
order in which it takes representatives), then the ranking is walked and a representative is taken if the
words taken so far plus its words (``len(sentence.split())``) are at most ``max_words``; ``budget=skip``
passes over one that does not fit and goes on, ``budget=stop`` ends there; until n are taken or the ranking
ends. The best-ranked representative is always taken, even alone over the budget. LEAD peers under the same
budget walk the lead sentences in order (``lead-clean``: the non-boilerplate ones) by the same rule. The
``budget`` command scores CHOSEN under each budget against those peers (paired bootstrap of ΔROUGE-2 as in
``test``) and the mean summary length in words, for n and W given as ``--budgets n:W,...``.

    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py embed
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py grid          # dev splits
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py test          # test splits: LEAD-3, today's default, CHOSEN
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py test --variant 'lam=0.5,pos=lin,boiler=1,cps=3.0'
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py budget --split dev --budgets 10:40,10:60,10:80,10:100,3:60
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py mstats
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py grid --grid length --bbc-min 40.5 --top 60 --json grid.json
    PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py test --vs-chosen --json test.json --variant 'lam=0.1,pos=lin,rank=score,boiler=1,cps=3.0,lamlong=0.5,m0=25,m1=45'
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".bench-data" / "vectors"


def load(corpus: str) -> list[dict]:
    """Rows of a corpus with ``id``, ``text``, ``reference``, in the order the split rule indexes."""
    if corpus == "cnndm":
        rows = sorted(pq.read_table(DATA / "cnndm_train100.parquet").to_pylist(), key=lambda r: r["id"])
        return [{"id": r["id"], "text": r["article"], "reference": r["highlights"]} for r in rows]
    rows = pq.read_table(DATA / "bbc_news_summary.parquet").to_pylist()
    return [{"id": r["id"], "text": r["body"], "reference": r["summary"]} for r in rows]


def split_indices(corpus: str, split: str) -> np.ndarray:
    if corpus == "cnndm":
        p = np.random.default_rng(0).permutation(100)
        return np.sort(p[:50] if split == "test" else p[50:])
    p = np.random.default_rng(0).permutation(2225)
    parts = (p[0:300], p[600:1413]) if split == "test" else (p[300:600], p[1413:2225])
    return np.sort(np.concatenate(parts))


def embed(corpus: str) -> None:
    """Split and embed every document of ``corpus`` once; cache to ``CACHE/<corpus>.npz``."""
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.embed import embed_strings
    from sqlml.ops.sentences import split_texts

    path = CACHE / f"{corpus}.npz"
    if path.exists():
        print(f"{corpus}: cached at {path}")
        return
    rows = load(corpus)
    batch = split_texts([r["text"] for r in rows])
    runtime = get_runtime(None, "cpu")
    started = time.perf_counter()
    parts = []
    step = 4096
    for i in range(0, len(batch.sentences), step):
        parts.append(embed_strings(batch.sentences[i : i + step], runtime))
        print(f"{corpus}: {i + len(parts[-1])}/{len(batch.sentences)} sentences, {time.perf_counter() - started:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array([r["id"] for r in rows]), offsets=batch.offsets, vectors=np.concatenate(parts), sentences=np.array(batch.sentences, dtype=object))




#: Boilerplate sentences (matched on the stripped sentence): news-site furniture, not content.
BOILERPLATE = [
    re.compile(r"^By\s*\.?$"),  # "By ." — the byline's first half as the splitter returns it
    re.compile(r"\b(PUBLISHED|UPDATED)\s*:"),  # "PUBLISHED: . 14:11 EST, 25 October 2013 . | ."
    re.compile(r"^Last updated at\b", re.I),
    re.compile(r"scroll down for (the )?video", re.I),
    re.compile(r"^(READ MORE|CLICK HERE)\b"),
    re.compile(r"^[^A-Za-z]*$"),  # no letters: "| .", "2013 ."
]
#: A sentence right after a "By ." sentence with at most this many words is the byline's name ("Daily Mail Reporter .").
BYLINE_NAME_WORDS = 6
_WORD = re.compile(r"[A-Za-z0-9]+")


def boilerplate_mask(sentences: list[str]) -> np.ndarray:
    """``bool (m,)``: the sentences of one text that :data:`BOILERPLATE` (or the byline-name rule) marks."""
    out = np.zeros(len(sentences), dtype=bool)
    for i, text in enumerate(sentences):
        t = text.strip()
        out[i] = any(p.search(t) for p in BOILERPLATE) or (
            i > 0 and BOILERPLATE[0].search(sentences[i - 1].strip()) is not None and len(_WORD.findall(t)) <= BYLINE_NAME_WORDS
        )
    return out


@dataclass(frozen=True)
class Variant:
    lam: float = 0.0  # weight of the position prior
    pos: str = "inv"  # inv: 1 / (1 + p); lin: 1 - p / m  (p: position among eligible sentences)
    rank: str = "size"  # size: by size, then representative score; score: by representative score; cent: by its directional c
    boiler: int = 0  # 1: boilerplate sentences are never representatives while another exists
    min_words: int = 0  # sentences with fewer words likewise
    cps: float = 2.0  # clusters per requested sentence
    cw: float = 1.0  # centrality weight
    cent: str = "doc"  # doc: cosine to the text centroid; dir: PacSum directional centrality
    beta: float = 0.0  # dir: edge threshold min + beta * (max - min) of the off-diagonal cosines
    l1: float = -2.0  # dir: weight of the edges to earlier sentences
    l2: float = 1.0  # dir: weight of the edges to later sentences
    cnorm: str = "m"  # dir: m (divide by the graph's sentence count) or minmax (within the text)
    graph: str = "elig"  # dir: elig (the eligible sentences) or all
    dw: float = 1.0  # doc+dir: weight of the directional term
    max_words: int | None = None  # word budget of the summary (None: off); see :func:`take_budget`
    budget: str = "skip"  # skip: pass over a representative that does not fit; stop: end at it
    lamlong: float = -1.0  # >= 0: λ ramps from lam (m <= m0) to lamlong (m >= m1); m: eligible sentences
    m0: int = 15
    m1: int = 30
    gamma: float = 0.0  # != 0: λ = lam * (m / mref) ** gamma
    mref: float = 20.0

    @classmethod
    def parse(cls, text: str) -> Variant:
        v = cls()
        for part in filter(None, text.split(",")):
            key, value = part.split("=")
            v = replace(v, **{key: int(value) if key == "max_words" else type(getattr(v, key))(value)})
        return v

    def name(self) -> str:
        d = Variant()
        shown = {"m0": self.lamlong >= 0, "m1": self.lamlong >= 0, "mref": bool(self.gamma)}  # a length form's parameters, always
        return ",".join(
            f"{k}={getattr(self, k)}" for k in self.__dataclass_fields__ if shown.get(k, getattr(self, k) != getattr(d, k))
        ) or "today's default"


def length_lam(v: Variant, m: int) -> float:
    """λ of the position prior for a text of ``m`` eligible sentences (``v.lam`` unless a length form is on)."""
    assert not (v.lamlong >= 0 and v.gamma), "one length form at a time"
    if v.lamlong >= 0:
        t = float(m >= v.m1) if v.m1 <= v.m0 else min(1.0, max(0.0, (m - v.m0) / (v.m1 - v.m0)))
        return v.lam + t * (v.lamlong - v.lam)
    if v.gamma:
        return v.lam * (max(m, 1) / v.mref) ** v.gamma
    return v.lam


def take_budget(order: list[int], words: np.ndarray, n: int, max_words: int | None, budget: str = "skip",
                boilerplate: np.ndarray | None = None) -> list[int]:
    """Positions taken (sorted) walking ``order``: at most ``n``, and with ``max_words`` set, one is taken if the
    words so far plus ``words[i]`` are at most ``max_words`` (the first always); ``skip`` goes on past one that
    does not fit, ``stop`` ends there. A ``boilerplate`` position is taken only as the first (sqlml's rule)."""
    if max_words is None:
        return sorted(order[:n])
    assert budget in ("skip", "stop"), budget
    taken: list[int] = []
    total = 0
    for i in order:
        if len(taken) == n:
            break
        if taken and (total + int(words[i]) > max_words or (boilerplate is not None and boilerplate[i])):
            if budget == "stop" and not (boilerplate is not None and boilerplate[i]):
                break
            continue
        taken.append(int(i))
        total += int(words[i])
    return sorted(taken)


def select_variant(
    x: np.ndarray, labels: np.ndarray, ineligible: np.ndarray, n: int, v: Variant, words: np.ndarray | None = None
) -> list[int]:
    """Positions picked for one text (sorted) by variant ``v``; with ``Variant()`` equal to sqlml's rule.

    With ``v.max_words`` set, ``words`` (per sentence, ``len(s.split())``) and :func:`take_budget` over the ranking."""
    m = len(x)
    x = x.astype(np.float64)
    score = np.zeros(m)
    for c in np.unique(labels):
        rows = labels == c
        centroid = x[rows].sum(axis=0)
        score[rows] = x[rows] @ (centroid / (np.linalg.norm(centroid) or 1.0))
    bad = ineligible if not ineligible.all() else np.zeros(m, dtype=bool)
    cent = np.zeros(m)
    if v.cent in ("dir", "doc+dir"):
        cent = directional(x, bad if v.graph == "elig" else np.zeros(m, dtype=bool), v)
        score += (v.cw if v.cent == "dir" else v.dw) * cent
    if v.cent in ("doc", "doc+dir") and v.cw:
        total = x.sum(axis=0)
        score += v.cw * (x @ (total / (np.linalg.norm(total) or 1.0)))
    lam = length_lam(v, int((~bad).sum()))
    if lam:
        p = np.maximum(np.cumsum(~bad) - 1, 0)  # position among eligible sentences
        f = 1.0 / (1.0 + p) if v.pos == "inv" else 1.0 - p / max(1, int((~bad).sum()))
        score = score + lam * np.where(bad, 0.0, f)
    key = np.round(score, 9)
    reps = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        good = rows[~bad[rows]]
        pool = good if len(good) else rows
        best = pool[np.lexsort((pool, -key[pool]))[0]]
        first = -len(rows) if v.rank == "size" else -round(cent[best], 9) if v.rank == "cent" else 0
        reps.append((int(not len(good)), first, -key[best], best))
    reps.sort()
    if v.max_words is None:
        return sorted(int(r[3]) for r in reps[:n])
    assert words is not None, "a word budget needs the sentences' word counts"
    return take_budget([int(r[3]) for r in reps], words, n, v.max_words, v.budget, bad)


def directional(x: np.ndarray, skip: np.ndarray, v: Variant) -> np.ndarray:
    """PacSum directional centrality of every sentence (0 for ``skip`` ones), scaled by ``v.cnorm``."""
    out = np.zeros(len(x))
    idx = np.flatnonzero(~skip)
    m = len(idx)
    if m < 2:
        return out
    y = x[idx] / np.maximum(np.linalg.norm(x[idx], axis=1, keepdims=True), 1e-12)
    e = y @ y.T
    off = e[~np.eye(m, dtype=bool)]
    lo, hi = off.min(), off.max()
    e = np.maximum(0.0, e - (lo + v.beta * (hi - lo)))
    c = v.l1 * np.tril(e, -1).sum(axis=1) + v.l2 * np.triu(e, 1).sum(axis=1)
    if v.cnorm == "m":
        c = c / m
    else:
        span = c.max() - c.min()
        c = (c - c.min()) / span if span > 0 else np.zeros(m)
    out[idx] = c
    return out


class Rouge:
    """ROUGE-1/2/L F1 of picked sentences, from per-sentence tokens (equal to ``RougeScorer.score`` on the joined text)."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self.rs = rouge_scorer
        self.scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
        self.cache: dict[tuple, tuple[float, float, float]] = {}

    def prepare(self, sentences: list[str], reference: str) -> tuple[list[list[str]], list[str]]:
        tok = self.scorer._tokenizer.tokenize
        return [tok(s) for s in sentences], tok(reference)

    def __call__(self, key: int, prepared: tuple[list[list[str]], list[str]], picks: list[int]) -> tuple[float, float, float]:
        k = (key, tuple(picks))
        if k not in self.cache:
            tokens = [t for p in picks for t in prepared[0][p]]
            ref = prepared[1]
            r1 = self.rs._score_ngrams(self.rs._create_ngrams(ref, 1), self.rs._create_ngrams(tokens, 1)).fmeasure
            r2 = self.rs._score_ngrams(self.rs._create_ngrams(ref, 2), self.rs._create_ngrams(tokens, 2)).fmeasure
            rl = self.rs._score_lcs(ref, tokens).fmeasure
            self.cache[k] = (100 * r1, 100 * r2, 100 * rl)
        return self.cache[k]


class Corpus:
    """One corpus split: cached sentences and vectors, k-means labels per k rule, ROUGE per pick."""

    def __init__(self, corpus: str, split: str, rouge: Rouge, n: int = 3) -> None:
        data = np.load(CACHE / f"{corpus}.npz", allow_pickle=True)
        rows = load(corpus)
        assert [r["id"] for r in rows] == data["ids"].tolist()
        self.name, self.split, self.n, self.rouge = corpus, split, n, rouge
        self.index = split_indices(corpus, split)
        offsets, vectors, sentences = data["offsets"], data["vectors"], data["sentences"].tolist()
        self.sentences = [sentences[offsets[i] : offsets[i + 1]] for i in self.index]
        self.vectors = [vectors[offsets[i] : offsets[i + 1]] for i in self.index]
        self.offsets = offsets
        self.flat, self.all_sentences = vectors, sentences
        self.boiler = [boilerplate_mask(s) for s in self.sentences]
        self.words = [np.array([len(_WORD.findall(t)) for t in s]) for s in self.sentences]
        self.split_words = [np.array([len(t.split()) for t in s], dtype=np.int64) for s in self.sentences]  # the budget's words
        self.reference_words = np.array([len(rows[i]["reference"].split()) for i in self.index])
        self.prepared = [rouge.prepare(s, rows[i]["reference"]) for s, i in zip(self.sentences, self.index, strict=True)]
        self.keys = [hash((corpus, int(i))) for i in self.index]
        self._labels: dict[float, list[np.ndarray]] = {}

    def labels(self, cps: float) -> list[np.ndarray]:
        if cps not in self._labels:
            from sqlml.ops.summarize.kmeans import kmeans_batched
            from sqlml.ops.summarize.pipeline import SEED, SelectionRule, cluster_count, distinct_counts

            counts = np.array([len(v) for v in self.vectors])
            offs = np.concatenate([[0], np.cumsum(counts)])
            distinct = distinct_counts(np.concatenate(self.vectors), offs)
            ks = cluster_count(np.full(len(counts), self.n), distinct, SelectionRule(cps, 1.0))
            self._labels[cps] = kmeans_batched(self.vectors, ks.tolist(), SEED, "cpu")
        return self._labels[cps]

    def picks(self, v: Variant | str, max_words: int | None = None, budget: str = "skip") -> list[list[int]]:
        """Picks per document; ``max_words``/``budget`` apply to the LEAD peers (a :class:`Variant` carries its own)."""
        if v == "lead":
            return [take_budget(list(range(len(s))), w, self.n, max_words, budget) for s, w in zip(self.sentences, self.split_words, strict=True)]
        if v == "lead-clean":  # LEAD-3 over the sentences that are not boilerplate (a stronger peer)
            return [
                take_budget(np.flatnonzero(~b).tolist() if not b.all() else list(range(len(b))), w, self.n, max_words, budget)
                for b, w in zip(self.boiler, self.split_words, strict=True)
            ]
        labels = self.labels(v.cps)
        out = []
        for x, lab, b, w, sw in zip(self.vectors, labels, self.boiler, self.words, self.split_words, strict=True):
            bad = (b if v.boiler else np.zeros(len(x), dtype=bool)) | (w < v.min_words)
            out.append(select_variant(x, np.asarray(lab), bad, self.n, v, sw))
        return out

    def scores(self, v: Variant | str, max_words: int | None = None, budget: str = "skip") -> np.ndarray:
        """``(docs, 3)``: ROUGE-1/2/L F1 × 100 per document."""
        picks = self.picks(v, max_words, budget)
        return np.array([self.rouge(k, p, c) for k, p, c in zip(self.keys, self.prepared, picks, strict=True)])

    def lengths(self, v: Variant | str, max_words: int | None = None, budget: str = "skip") -> np.ndarray:
        """``(docs,)``: words (``len(s.split())``) of each document's summary."""
        return np.array([int(w[p].sum()) for w, p in zip(self.split_words, self.picks(v, max_words, budget), strict=True)])


def bootstrap(a: np.ndarray, b: np.ndarray | None = None, resamples: int = 1000) -> tuple[float, float, float]:
    """Mean of ``a`` (or of ``a - b``, paired) and its 95 % percentile interval over resampled documents."""
    d = a if b is None else a - b
    idx = np.random.default_rng(12345).integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


#: The variant chosen on the dev splits (BBC dev >= 40 with margin, best CNN/DM dev R-2 near it): sqlml's DEFAULT_RULE.
#: sqlml's rule before the length-dependent prior (the base of the pacsum and length grids).
SIZE_RANKED = Variant(0.25, "lin", "size", 1, 0, 3.0)
#: sqlml's DEFAULT_RULE: the 'length' grid's choice on the dev splits (BBC dev >= 40.5, then the best CNN/DM dev).
CHOSEN = Variant(0.1, "lin", "score", 1, 0, 3.0, lamlong=0.5, m0=25, m1=45)


def grid() -> list[Variant]:
    out = [Variant()]
    for boiler in (0, 1):
        for min_words in (0, 5):
            for rank in ("size", "score"):
                for pos in ("inv", "lin"):
                    for lam in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0):
                        if lam == 0.0 and pos == "lin":
                            continue
                        out.append(Variant(lam, pos, rank, boiler, min_words))
    for cps in (1.0, 3.0):
        for lam in (0.5, 1.0):
            out.append(Variant(lam, "lin", "score", 1, 0, cps))
    # second pass (after the first grid): finer λ around the BBC >= 40 edge, k = 2n and 3n, clusters by size
    for cps in (2.0, 3.0):
        for pos in ("lin", "inv"):
            for boiler in (0, 1):
                for lam in (0.15, 0.2, 0.25, 0.3, 0.4, 0.5):
                    out.append(Variant(lam, pos, "size", boiler, 0, cps))
    return list(dict.fromkeys(out))


def grid_pacsum() -> list[Variant]:
    """PacSum directional centrality in place of the text-centroid term (boilerplate on, as the default)."""
    out = [Variant(), SIZE_RANKED]
    for cps in (2.0, 3.0):
        for lam in (0.0, 0.25):
            for rank in ("size", "cent", "score"):
                for cnorm in ("m", "minmax"):
                    for beta in (0.0, 0.3, 0.6):
                        for l1 in (-0.5, -1.0, -2.0):
                            out.append(Variant(lam, "lin", rank, 1, 0, cps, 1.0, "dir", beta, l1, 1.0, cnorm))
    return list(dict.fromkeys(out))


def grid_pacsum2() -> list[Variant]:
    """Second pass (no variant of :func:`grid_pacsum` kept BBC dev >= 40.5): a weaker backward penalty
    (l1 in {-0.1, -0.25}) in place of the centroid term, and the directional term added to it (``doc+dir``)."""
    out = [Variant(), SIZE_RANKED]
    for lam in (0.0, 0.25):
        for rank in ("size", "cent"):
            for cnorm in ("m", "minmax"):
                for beta in (0.0, 0.3):
                    for l1 in (-0.1, -0.25):
                        out.append(Variant(lam, "lin", rank, 1, 0, 3.0, 1.0, "dir", beta, l1, 1.0, cnorm))
            for dw in (0.25, 0.5):
                for l1 in (-0.5, -1.0):
                    out.append(Variant(lam, "lin", rank, 1, 0, 3.0, 1.0, "doc+dir", 0.3, l1, 1.0, "minmax", "elig", dw))
    return list(dict.fromkeys(out))


def grid_length() -> list[Variant]:
    """Length-dependent position prior around SIZE_RANKED (λ = 0.25 lin, k = 3n, boilerplate skipped, by size)."""
    out = [Variant(), SIZE_RANKED]
    base = SIZE_RANKED
    for m0, m1 in ((15, 30), (20, 35), (25, 40), (30, 30)):  # ramp: 0.25 for short texts, lamlong for long ones
        for lamlong in (0.5, 0.75, 1.0, 1.5, 2.0):
            if lamlong == 2.0 and m0 == 15:
                continue
            out.append(replace(base, lamlong=lamlong, m0=m0, m1=m1))
    for lam in (0.1, 0.15):  # a weaker prior than today's on short texts, a stronger one on long texts
        for m0, m1 in ((20, 35), (25, 40)):
            for lamlong in (0.75, 1.0):
                out.append(replace(base, lam=lam, lamlong=lamlong, m0=m0, m1=m1))
    for mref in (15.0, 25.0):  # power: 0.25 at m = mref
        for gamma in (0.5, 1.0, 2.0):
            out.append(replace(base, gamma=gamma, mref=mref))
    for lam in (0.1, 0.25):  # clusters ranked by score (the prior orders them too), a weak prior on short texts
        out.append(replace(base, lam=lam, rank="score"))
        for m0, m1 in ((20, 35), (30, 30)):
            for lamlong in (0.5, 1.0):
                out.append(replace(base, lam=lam, rank="score", lamlong=lamlong, m0=m0, m1=m1))
        out.append(replace(base, lam=lam, rank="score", gamma=1.0, mref=25.0))
    for m0, m1 in ((20, 35), (30, 30)):  # boilerplate kept (then m counts bylines too)
        for lamlong in (0.75, 1.5):
            out.append(replace(base, boiler=0, lamlong=lamlong, m0=m0, m1=m1))
    return list(dict.fromkeys(out))


def grid_length2() -> list[Variant]:
    """Second pass (after :func:`grid_length`, whose best qualifier ranked clusters by score): clusters by score,
    a weak or no prior on short texts, a stronger one from later lengths on."""
    out = [Variant(), SIZE_RANKED]
    for lam in (0.0, 0.05, 0.1):
        for m0, m1 in ((30, 30), (25, 45), (40, 40)):
            for lamlong in (0.5, 1.0):
                if lam == 0.0 and m0 == 25 or lam > 0 and (m0, m1) == (30, 30):
                    continue
                out.append(replace(SIZE_RANKED, lam=lam, rank="score", lamlong=lamlong, m0=m0, m1=m1))
    return list(dict.fromkeys(out))


def m_stats(splits: tuple[str, ...] = ("dev", "test")) -> dict:
    """Distribution of m (eligible sentences: not boilerplate, as ``boiler=1``) and of all sentences per text."""
    from sqlml.ops.sentences import split_texts

    out = {}
    print("| corpus | split | docs | count | min | 10 % | 25 % | median | 75 % | 90 % | max | mean |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for corpus in ("cnndm", "bbc"):
        rows = load(corpus)
        batch = split_texts([r["text"] for r in rows])
        sents = [batch.sentences[a:b] for a, b in zip(batch.offsets[:-1], batch.offsets[1:], strict=True)]
        for split in splits:
            idx = split_indices(corpus, split)
            for what, vals in (
                ("eligible m", np.array([int((~boilerplate_mask(sents[i])).sum()) or len(sents[i]) for i in idx])),
                ("all sentences", np.array([len(sents[i]) for i in idx])),
            ):
                q = np.percentile(vals, [0, 10, 25, 50, 75, 90, 100])
                out[f"{corpus} {split} {what}"] = {"docs": len(idx), "mean": float(vals.mean()), **{f"p{k}": float(x) for k, x in zip((0, 10, 25, 50, 75, 90, 100), q, strict=True)}}
                print(f"| {corpus} | {split} | {len(idx)} | {what} | " + " | ".join(f"{x:g}" for x in q) + f" | {vals.mean():.1f} |")
    return out


def rule_of(v: Variant):  # noqa: ANN201
    """The :class:`SelectionRule` that runs variant ``v`` in sqlml (``pos=lin`` only)."""
    from sqlml.ops.summarize.pipeline import SelectionRule

    assert v.pos == "lin" or not v.lam, "sqlml's position prior is the linear one"
    assert not v.min_words, "sqlml has no length bound"
    assert v.rank in ("size", "score"), "sqlml ranks clusters by size or by their representative's score"
    assert v.cent == "doc", "sqlml's centrality is the text centroid's"
    assert not v.gamma, "sqlml's λ(m) is a ramp"
    if v.lamlong >= 0:
        assert v.lam > 0 and v.m1 > v.m0, "sqlml's ramp multiplies a non-zero λ between two lengths"
        ramp = {"long_text_factor": round(v.lamlong / v.lam, 9), "long_text_from": v.m0, "long_text_to": v.m1}
    else:
        ramp = {"long_text_factor": 1.0}
    return SelectionRule(v.cps, v.cw, v.lam, bool(v.boiler), rank_by_size=v.rank == "size", **ramp)


def check_default(c: Corpus, v: Variant, docs: int = 40) -> str:
    """sqlml's own selection (``explain_vectors`` with :func:`rule_of`) picks what ``v`` picks on the first documents
    (with ``v.max_words``, ``budget=skip``: sqlml's ``max_words``)."""
    from sqlml.ops.sentences import SentenceBatch
    from sqlml.ops.summarize.pipeline import explain_vectors

    sents = [t for s in c.sentences[:docs] for t in s]
    offs = np.concatenate([[0], np.cumsum([len(s) for s in c.sentences[:docs]])])
    budget = {} if v.max_words is None else {"max_words": v.max_words}
    assert v.max_words is None or v.budget == "skip", "sqlml's budget skips"
    sel = explain_vectors(SentenceBatch(sents, offs), np.concatenate(c.vectors[:docs]), [c.n] * docs, rule_of(v), **budget).selected
    ours = c.picks(v)[:docs]
    same = sum(np.flatnonzero(sel[a:b]).tolist() == p for a, b, p in zip(offs[:-1], offs[1:], ours, strict=True))
    line = f"{c.name} {c.split}: {v.name()} == explain_vectors on {same}/{docs} documents"
    print(line)
    return line


def row(name: str, s: np.ndarray, ref: dict[str, np.ndarray] | None = None) -> str:
    cells = [f"{s[:, j].mean():.2f}" for j in range(3)]
    if ref:
        for r in ref.values():
            m, lo, hi = bootstrap(s[:, 1], r[:, 1])
            cells.append(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    return f"| {name} | " + " | ".join(cells) + " |"


def budget_tables(splits: list[str], budgets: list[tuple[int, int]], rouge: Rouge, check_budget: bool = False) -> dict:
    """CHOSEN under each word budget (``skip`` and ``stop``) against LEAD and LEAD without boilerplate under the
    same budget; prints markdown tables, returns the rows for JSON."""
    out: dict = {"rows": [], "skip_vs_stop": [], "reference_words": {}, "checks": []}
    for split in splits:
        corpora: dict[tuple[str, int], Corpus] = {}
        for name in ("cnndm", "bbc"):
            for n in sorted({n for n, _ in budgets}):
                c = corpora[name, n] = Corpus(name, split, rouge, n)
                out["checks"].append(f"n={n}: " + check_default(c, CHOSEN))
                if check_budget:
                    for w in sorted({w for nn, w in budgets if nn == n}):
                        out["checks"].append(f"n={n}: " + check_default(c, replace(CHOSEN, max_words=w), len(c.index)))
            ref = corpora[name, budgets[0][0]].reference_words
            out["reference_words"][f"{name} {split}"] = {"mean": float(ref.mean()), "median": float(np.median(ref))}
        print(f"\n## {split}\n")
        print("| corpus | n | W | budget | method | R-1 | R-2 | R-L | words | sentences | ΔR-2 vs LEAD-budget [95 %] | ΔR-2 vs LEAD-clean-budget [95 %] |")
        print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in ("cnndm", "bbc"):
            for n in sorted({n for n, _ in budgets}, reverse=True):
                c = corpora[name, n]
                plans = [(None, "none")] + [(w, b) for nn, w in budgets if nn == n for b in ("skip", "stop")]
                chosen_by_mode: dict[tuple, np.ndarray] = {}
                for w, b in plans:
                    bud = None if w is None else b
                    lead, clean = c.scores("lead", w, b), c.scores("lead-clean", w, b)
                    v = CHOSEN if w is None else replace(CHOSEN, max_words=w, budget=b)
                    methods = (("LEAD", "lead"), ("LEAD-clean", "lead-clean"), ("default", v))
                    for label, m in methods:
                        s_ = c.scores(m, w, b) if isinstance(m, str) else c.scores(m)
                        if label == "default":
                            chosen_by_mode[w, b] = s_
                        words = c.lengths(m, w, b) if isinstance(m, str) else c.lengths(m)
                        sents = np.array([len(p) for p in (c.picks(m, w, b) if isinstance(m, str) else c.picks(m))])
                        d1, d2 = bootstrap(s_[:, 1], lead[:, 1]), bootstrap(s_[:, 1], clean[:, 1])
                        r = {
                            "split": split, "corpus": name, "docs": len(c.index), "n": n, "max_words": w, "budget": bud, "method": label,
                            "r1": float(s_[:, 0].mean()), "r2": float(s_[:, 1].mean()), "rl": float(s_[:, 2].mean()),
                            "mean_words": float(words.mean()), "mean_sentences": float(sents.mean()),
                            "over_budget_docs": int((words > w).sum()) if w is not None else None,
                            "d_r2_vs_lead_budget": d1, "d_r2_vs_lead_clean_budget": d2,
                        }
                        out["rows"].append(r)
                        print(
                            f"| {name} | {n} | {w if w is not None else '–'} | {bud or 'off'} | {label} | {r['r1']:.2f} | {r['r2']:.2f} | {r['rl']:.2f} | "
                            f"{r['mean_words']:.1f} | {r['mean_sentences']:.2f} | "
                            + " | ".join(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]" for m, lo, hi in (d1, d2))
                            + " |"
                        )
                for nn, w in budgets:
                    if nn == n:
                        d = bootstrap(chosen_by_mode[w, "skip"][:, 1], chosen_by_mode[w, "stop"][:, 1])
                        out["skip_vs_stop"].append({"split": split, "corpus": name, "n": n, "max_words": w, "d_r2_skip_minus_stop": d})
        print(f"\n{split}: default skip − stop, ΔR-2 [95 %]: " + "; ".join(
            f"{d['corpus']} n={d['n']} W={d['max_words']} {d['d_r2_skip_minus_stop'][0]:+.2f} [{d['d_r2_skip_minus_stop'][1]:+.2f}, {d['d_r2_skip_minus_stop'][2]:+.2f}]"
            for d in out["skip_vs_stop"] if d["split"] == split
        ))
        print(f"{split}: reference words " + ", ".join(f"{k}: mean {v['mean']:.1f}" for k, v in out["reference_words"].items() if k.endswith(split)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["embed", "grid", "test", "budget", "mstats"])
    parser.add_argument("--variant", action="append", default=[], help="test: variants to score, 'key=value,...' (default: the chosen one)")
    parser.add_argument("--split", choices=["dev", "test"], default="test", help="test: the split scored (dev: the same table with intervals on dev)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--bbc-min", type=float, default=40.0, help="grid: list variants with BBC dev R-2 at least this")
    parser.add_argument("--grid", choices=["levers", "pacsum", "pacsum2", "length", "length2"], default="levers",
                        help="grid: which grid (pacsum*: PacSum; length*: λ by text length)")
    parser.add_argument("--vs-chosen", action="store_true", help="test: add a paired ΔR-2 column against CHOSEN (sqlml's default)")
    parser.add_argument("--budgets", default="10:40,10:60,10:80,10:100,3:60", help="budget: n:W pairs (n sentences at most, W words)")
    parser.add_argument("--splits", default="dev,test", help="budget: splits scored")
    parser.add_argument("--json", type=Path, help="budget, grid, mstats, test: write the rows here")
    parser.add_argument("--check-budget", action="store_true", help="budget: also check sqlml's explain_vectors(max_words=W) on every document")
    args = parser.parse_args()
    if args.command == "embed":
        for corpus in ("cnndm", "bbc"):
            embed(corpus)
        return
    if args.command == "mstats":
        out = m_stats()
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1) + "\n")
        return
    from sqlml.ops.summarize.pipeline import DEFAULT_RULE

    assert rule_of(CHOSEN) == DEFAULT_RULE, "CHOSEN is sqlml's default rule"
    rouge = Rouge()
    if args.command == "budget":
        budgets = [(int(a), int(b)) for a, b in (t.split(":") for t in args.budgets.split(","))]
        started = time.perf_counter()
        out = budget_tables(args.splits.split(","), budgets, rouge, args.check_budget)
        out["command"] = " ".join(["PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py", *sys.argv[1:]])
        out["seconds"] = round(time.perf_counter() - started, 1)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1) + "\n")
        return
    split = "dev" if args.command == "grid" else args.split
    corpora = [Corpus("cnndm", split, rouge), Corpus("bbc", split, rouge)]
    for c in corpora:
        check_default(c, Variant())
        check_default(c, CHOSEN)
    if args.command == "grid":
        results = {}
        lead = {c.name: c.scores("lead") for c in corpora}
        started = time.perf_counter()
        for v in {"levers": grid, "pacsum": grid_pacsum, "pacsum2": grid_pacsum2, "length": grid_length, "length2": grid_length2}[args.grid]():
            results[v] = {c.name: c.scores(v) for c in corpora}
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({
                "command": " ".join(["PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py", *sys.argv[1:]]),
                "seconds": round(time.perf_counter() - started, 1),
                "lead3": {c.name: [float(x) for x in lead[c.name].mean(axis=0)] for c in corpora},
                "rows": [{"variant": v.name(), "spec": ",".join(f"{k}={getattr(v, k)}" for k in v.__dataclass_fields__),
                          **{f"{c}_r{m}": float(results[v][c][:, j].mean()) for c in ("cnndm", "bbc") for j, m in enumerate("12L")}}
                         for v in results],
            }, indent=1) + "\n")
        print("\n| variant (dev) | CNN/DM R-1 | R-2 | R-L | BBC R-1 | R-2 | R-L |\n|---|---:|---:|---:|---:|---:|---:|")
        print("| LEAD-3 | " + " | ".join(f"{lead[c.name][:, j].mean():.2f}" for c in corpora for j in range(3)) + " |")
        clean = {c.name: c.scores("lead-clean") for c in corpora}
        print("| LEAD-3 without boilerplate | " + " | ".join(f"{clean[c.name][:, j].mean():.2f}" for c in corpora for j in range(3)) + " |")
        ranked = sorted(results, key=lambda v: -(results[v]["cnndm"][:, 1].mean() + results[v]["bbc"][:, 1].mean()))
        for v in [Variant(), *[v for v in ranked if v != Variant()][: args.top]]:
            print(f"| {v.name()} | " + " | ".join(f"{results[v][c.name][:, j].mean():.2f}" for c in corpora for j in range(3)) + " |")
        ok = [v for v in ranked if results[v]["cnndm"][:, 1].mean() > lead["cnndm"][:, 1].mean() and results[v]["bbc"][:, 1].mean() >= 40]
        print(f"\n{len(ok)}/{len(results)} variants beat LEAD-3 R-2 on CNN/DM dev with BBC dev >= 40; by CNN/DM R-2 among BBC >= {args.bbc_min}:")
        for v in sorted([v for v in results if results[v]["bbc"][:, 1].mean() >= args.bbc_min], key=lambda v: -results[v]["cnndm"][:, 1].mean())[: args.top]:
            print(f"| {v.name()} | " + " | ".join(f"{results[v][c.name][:, j].mean():.2f}" for c in corpora for j in range(3)) + " |")
        return
    args.variant = args.variant or [CHOSEN.name()]
    rows: list[dict] = []
    for c in corpora:
        lead, default = c.scores("lead"), c.scores(Variant())
        print(f"\n### {c.name} {split} ({len(c.index)} documents), n = {c.n}\n")
        extra = " ΔR-2 vs CHOSEN [95 %] |" if args.vs_chosen else ""
        head = f"| method | R-1 | R-2 | R-L | ΔR-2 vs LEAD-3 [95 %] | ΔR-2 vs today's default [95 %] |{extra}"
        print(head + "\n|---|---:|---:|---:|---:|---:|" + "---:|" * bool(extra))
        ref = {"lead": lead, "default": default} | ({"chosen": c.scores(CHOSEN)} if args.vs_chosen else {})
        print(row("LEAD-3", lead, ref))
        print(row("today's default", default, ref))
        print(row("LEAD-3 without boilerplate", c.scores("lead-clean"), ref))
        for text in args.variant:
            print(row(Variant.parse(text).name(), c.scores(Variant.parse(text)), ref))
        for name, s_ in (("LEAD-3", lead), ("today's default", default), ("LEAD-3 without boilerplate", c.scores("lead-clean")),
                         *((Variant.parse(t).name(), c.scores(Variant.parse(t))) for t in args.variant)):
            rows.append({"corpus": c.name, "split": split, "docs": len(c.index), "method": name,
                         **{f"r{m}": float(s_[:, j].mean()) for j, m in enumerate("12L")},
                         **{f"d_r2_vs_{k}": bootstrap(s_[:, 1], r[:, 1]) for k, r in ref.items()}})
        for name, s in (("LEAD-3", lead), ("today's default", default), *((t, c.scores(Variant.parse(t))) for t in args.variant)):
            cis = [bootstrap(s[:, j]) for j in range(3)]
            print(f"{name}: " + ", ".join(f"R-{m} {a:.2f} [{lo:.2f}, {hi:.2f}]" for m, (a, lo, hi) in zip("12L", cis, strict=True)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(["PYTHONPATH=$PWD python benchmarks/eval_summary_levers.py", *sys.argv[1:]]),
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
