"""News-site boilerplate sentences: never a summary's representative while the text has other sentences.

A deterministic pattern list, matched on each sentence of at most :data:`MAX_CHARS` characters as the
splitter returns it (trimmed); a longer sentence that quotes a pattern is the article's own text. Marked
sentences stay in the text, in the clustering and in ``summarize_explain`` (``boilerplate = true``);
they are only passed over when a cluster's representative is chosen, and a cluster of nothing but
boilerplate ranks after every other cluster. The text of a sentence is never changed.

Patterns (:data:`PATTERNS`), each seen in news crawls (CNN/DailyMail's ``By . Name . PUBLISHED: . 14:11
EST, 25 October 2013 . | . UPDATED: …`` header is split into several "sentences"):

* ``By .`` (or ``By``) alone: the first half of a byline;
* the sentence right after it when it has at most :data:`BYLINE_NAME_WORDS` words (``Daily Mail
  Reporter .``, ``Mark Duell . and Hugo Gye .``);
* a time stamp: ``PUBLISHED:`` or ``UPDATED:`` anywhere, ``Last updated at …`` at the start;
* ``Scroll down for video`` (also ``scroll …``, ``SCROLL DOWN …``); ``READ MORE`` / ``CLICK HERE`` at the start;
* a sentence without a letter (``| .``).

A ``(CNN) --`` dateline is *not* boilerplate: it opens the lead sentence.
"""

from __future__ import annotations

import re

import numpy as np

#: The byline's first half as the splitter returns it ("By ." of "By . Jill Reilly . PUBLISHED: …").
BYLINE = re.compile(r"\nBy[ \t]*\.?[ \t]*(?=\n)")
#: The patterns, searched over all sentences of a call joined by newlines (with one before the first and
#: one after the last, so "\n" marks a sentence's ends). Each starts with a literal, which ``re`` finds
#: fast: one alternation, or a search per sentence, cost ~5 µs a sentence under the GIL.
PATTERNS = (
    BYLINE,
    re.compile(r"PUBLISHED[ \t]*:"),
    re.compile(r"UPDATED[ \t]*:"),
    re.compile(r"\nLast updated at\b"),
    re.compile(r"croll down for (?:the )?video"),  # "Scroll" / "scroll"
    re.compile(r"CROLL DOWN FOR (?:THE )?VIDEO"),
    re.compile(r"\n(?:READ MORE|CLICK HERE)\b"),
    re.compile(r"\n[^A-Za-z\n]*(?=\n)"),  # no letters: "| ."
)
#: Only sentences up to this length are matched: boilerplate is short (the longest marked in the CNN/DailyMail
#: sample has 47 characters), and scanning every sentence holds the GIL long enough to cost the GPU summarize
#: path about a fifth of its throughput (benchmarks/NOTES.md).
MAX_CHARS = 80
#: A sentence right after a byline's "By ." with at most this many words is the byline's name.
BYLINE_NAME_WORDS = 6
_WORD = re.compile(r"[A-Za-z0-9]+")


def boilerplate_mask(sentences: list[str], offsets: np.ndarray) -> np.ndarray:
    """``bool (len(sentences),)``: the sentences that are boilerplate; text ``i`` owns
    ``sentences[offsets[i]:offsets[i + 1]]`` (a byline name must follow its "By ." in the same text)."""
    out = np.zeros(len(sentences), dtype=bool)
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    short = np.flatnonzero(lengths <= MAX_CHARS)  # the candidates, a small share of the text's characters
    if not len(short):
        return out
    candidates = [sentences[i] for i in short.tolist()]
    joined = "\n" + "\n".join(candidates) + "\n"
    if joined.count("\n") != len(candidates) + 1:  # a sentence with a line break inside: keep "\n" for sentence ends
        joined = "\n" + "\n".join(c.replace("\n", " ") for c in candidates) + "\n"
    ends = np.cumsum(lengths[short] + 1)  # the "\n" after each candidate

    def rows(pattern: re.Pattern[str]) -> np.ndarray:  # sentences holding a match (a leading "\n" is the one before)
        hits = [m.start() + (m.group().startswith("\n")) for m in pattern.finditer(joined)]
        return short[np.searchsorted(ends, np.array(hits, dtype=np.int64), side="left")]

    for pattern in PATTERNS:
        out[rows(pattern)] = True
    if not out.any():
        return out
    byline = np.zeros(len(sentences), dtype=bool)
    byline[rows(BYLINE)] = True
    first = np.zeros(len(sentences), dtype=bool)
    first[np.asarray(offsets[:-1])[np.diff(offsets) > 0]] = True
    for i in np.flatnonzero(np.concatenate([[False], byline[:-1]]) & ~first):
        if len(_WORD.findall(sentences[i])) <= BYLINE_NAME_WORDS:
            out[i] = True
    return out
