"""Choose the sentence splitter by measurement: speed and accuracy on the BBC News Summary set.

Accuracy uses the summaries as gold: they are extractive, so each summary sentence also occurs in the
article body. Gold units = the summary cut at its glue points (``bn.For``) that occur verbatim in the
body (98.5% of pieces).

* body recall: share of gold units that a splitter returns as one whole sentence of the body.
* summary precision: share of the sentences a splitter makes of a *summary* that occur verbatim in the
  body (a splitter that leaves ``bn.For`` glued returns two sentences in one, found nowhere).
* coverage: share of bodies where the spans keep every non-whitespace character (nothing dropped).
* speed: thousands of characters per second over all 2,225 bodies, one core.

    python benchmarks/bench_sentences.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root: this tree's sqlml and tests.support

GLUE = re.compile(r"[a-z0-9%)][.!?](\"?)[A-Z]")
Splitter = Callable[[str], list[str]]


def splitters() -> dict[str, Splitter]:
    """Every installed candidate: sqlml's splitter, plain blingfire, pysbd, syntok, nltk punkt."""
    import blingfire

    from sqlml.ops.sentences import split_sentences

    found: dict[str, Splitter] = {
        "sqlml (blingfire + glue repair)": lambda t: [s.text for s in split_sentences(t)],
        "blingfire": lambda t: [t[a:b] for a, b in blingfire.text_to_sentences_and_offsets(t)[1]] if t.strip() else [],
    }
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab")
        found["nltk punkt"] = nltk.sent_tokenize
    except (ImportError, LookupError):
        print("nltk punkt not installed: skipped")
    try:
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False)
        found["pysbd"] = lambda t: [s.strip() for s in seg.segment(t) if s.strip()]
    except ImportError:
        print("pysbd not installed (pip install pysbd): skipped")
    try:
        from syntok import segmenter

        def syntok_split(t: str) -> list[str]:
            out = []
            for paragraph in segmenter.analyze(t):
                for sentence in paragraph:
                    start = sentence[0].offset
                    end = sentence[-1].offset + len(sentence[-1].value)
                    out.append(t[start:end].strip())
            return [s for s in out if s]

        found["syntok"] = syntok_split
    except ImportError:
        print("syntok not installed (pip install syntok): skipped")
    return found


def gold_units(summary: str, body: str) -> list[str]:
    """The summary cut at its glue points; a quote at a cut goes to whichever side the body confirms."""
    pieces, begin = [], 0
    for match in GLUE.finditer(summary):
        cut = match.end() - 1
        if match.group(1) and summary[begin : cut].strip() not in body:
            cut -= 1  # the quote opens the next sentence
        pieces.append(summary[begin:cut].strip())
        begin = cut
    pieces.append(summary[begin:].strip())
    return [p for p in pieces if p and p in body]


def covers(text: str, sentences: list[str]) -> bool:
    """True if the sentences, in order, hold every non-whitespace character of ``text``."""
    return "".join("".join(s.split()) for s in sentences) == "".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="rows to use (default: all 2,225)")
    args = parser.parse_args()
    rows = pq.read_table(args.data_dir / "bbc_news_summary.parquet").to_pylist()[: args.limit]
    bodies = [r["body"] for r in rows]
    gold = [gold_units(r["summary"], r["body"]) for r in rows]
    n_gold = sum(map(len, gold))
    print(f"{len(rows)} articles, {sum(map(len, bodies)):,} body characters, {n_gold:,} gold sentences\n")
    print("| splitter | body recall | summary precision | coverage | speed (k chars/s) |")
    print("|---|---:|---:|---:|---:|")
    for name, split in splitters().items():
        started = time.perf_counter()
        body_sents = [split(b) for b in bodies]
        seconds = time.perf_counter() - started
        hit = sum(len(set(g) & {s.strip() for s in bs}) for g, bs in zip(gold, body_sents, strict=True))
        summary_sents = [split(r["summary"]) for r in rows]
        found = sum(s.strip() in r["body"] for r, ss in zip(rows, summary_sents, strict=True) for s in ss)
        made = sum(map(len, summary_sents))
        covered = sum(covers(b, bs) for b, bs in zip(bodies, body_sents, strict=True))
        speed = sum(map(len, bodies)) / seconds / 1000
        print(f"| {name} | {hit / n_gold:.1%} | {found / made:.1%} | {covered / len(rows):.1%} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
