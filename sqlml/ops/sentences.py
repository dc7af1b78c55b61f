"""Sentence splitting: the one splitter of the project (summarize and top_k_sentences both use it).

Returns sentences with their position and character span in the original text; the text of a
sentence is ``text[start:end]`` verbatim, so output sentences are always substrings of the input.

The splitter is blingfire (a compiled finite-state model; chosen by measurement, see
``docs/summarize.md``) plus one repair pass: blingfire keeps sentences glued without a space after the
period (``"$10.9bn.For the full-year"``, the BBC summaries' quirk) as one sentence, so such glue
points are split again, unless the period ends a title (``Mr.Benn``), an initial (``J.K.Rowling``) or
a part of a dotted name (``Halo.Bungie.Org``). A double quote at a glue point goes with the sentence
it opens (quote parity), so ``deficit."I think`` splits before the quote.

No text is ever dropped: every non-whitespace character of the input lies inside exactly one
sentence span (blingfire's spans are checked, and any character they miss is attached to a
neighbouring sentence).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sentence:
    """One sentence: 0-based ``position`` in the text and its ``[start, end)`` character span."""

    position: int
    start: int
    end: int
    text: str


# A sentence end glued to the next sentence: a letter/digit/%/closing bracket or quote, the end mark, an
# optional double quote, then a capital that starts a word ("For", "I think", "BA had").
_GLUE = re.compile(r"""[A-Za-z0-9%)\]"'\u2019\u201d](?P<mark>[.!?])(?P<quote>["\u201c\u201d]?)(?P<next>[A-Z][A-Za-z0-9\s'&])""")
# Words that take a period and are followed by a name, so "Mr.Benn" is not a sentence end.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof gen col capt lt sgt rep sen gov rev hon messrs mt ft fig no vs etc inc ltd co corp".split()
)
_WORD_BEFORE = re.compile(r"[A-Za-z]+$")
_DOTTED_NAME = re.compile(r"[A-Za-z]+\.[A-Za-z]")
# What every _GLUE match contains: an end mark, an optional double quote, a capital. One search of the
# whole text for it is ~6x cheaper than searching each sentence for _GLUE, and most texts have none.
_GLUE_HINT = re.compile(r"""[.!?]["\u201c\u201d]?[A-Z]""")


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences. Empty or whitespace-only text gives ``[]``.

    Each sentence's ``text`` equals ``text[start:end]``, has no leading or trailing whitespace, and
    positions count from 0 in reading order.
    """
    return [Sentence(i, start, end, text[start:end]) for i, (start, end) in enumerate(sentence_spans(text))]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` character spans of :func:`split_sentences`, in reading order; ``[]`` if blank."""
    if not text.strip():
        return []
    return _repaired(text, blingfire_spans(text))


def _repaired(text: str, raw_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """blingfire's spans of a non-blank ``text`` made to cover it (:func:`_cover`), then split at glue points."""
    spans = _cover(text, raw_spans)
    if _GLUE_HINT.search(text) is None:
        return spans
    return [piece for start, end in spans for piece in _unglue(text, start, end)]


@dataclass(frozen=True)
class SentenceBatch:
    """The sentences of many texts, flat: text ``i`` has ``sentences[offsets[i]:offsets[i + 1]]``.

    ``sentences``: verbatim sentence strings in reading order, text after text; ``offsets``: ``int64
    (texts + 1,)``, non-decreasing, from 0 to ``len(sentences)``. A NULL or blank text has no sentences.
    """

    sentences: list[str]
    offsets: np.ndarray


# Texts are given to blingfire in groups of about this many characters, joined by a newline (see
# grouped_blingfire_spans). Larger groups cost more: blingfire's output buffers are 18 bytes per input byte.
GROUP_CHARS = 65_536


def split_texts(texts: Sequence[str | None]) -> SentenceBatch:
    """Split every text as :func:`split_sentences` does, into one flat :class:`SentenceBatch`; NULL → none.

    blingfire runs once per group of texts (:func:`grouped_blingfire_spans`), not once per text.
    """
    present = [i for i, text in enumerate(texts) if text is not None]
    raw_spans = grouped_blingfire_spans([texts[i] for i in present])
    sentences: list[str] = []
    counts = np.zeros(len(texts) + 1, dtype=np.int64)
    for i, spans in zip(present, raw_spans, strict=True):
        text = texts[i]
        spans = _repaired(text, spans) if text.strip() else []
        sentences.extend(text[start:end] for start, end in spans)
        counts[i + 1] = len(spans)
    return SentenceBatch(sentences, np.cumsum(counts))


def grouped_blingfire_spans(texts: Sequence[str], group_chars: int = GROUP_CHARS) -> list[list[tuple[int, int]]]:
    """:func:`blingfire_spans` of each text, found with one blingfire call per group of texts.

    Why: the C call releases the GIL and must take it back; with DuckDB's threads busy in Python that
    wait is up to the 5 ms switch interval, so one call per article (~0.2 ms of work) became ~5 ms per
    article (measured: 4 threads splitting 1,024 W2 articles each next to 1 / 3 busy Python threads took
    11.4 / 25.9 s one call per text, 3.0 / 5.9 s grouped; benchmarks/NOTES.md, lever 22).

    Texts are joined by a newline, which blingfire reads as a space, so a sentence can run on from one
    text into the next (a text that ends without an end mark). Such a span is detected and the texts it
    touches are split alone. Every other text gets its own call's spans, up to trailing whitespace
    (which :func:`_cover` trims): the same sentences, checked on all 4,450 BBC bodies and summaries and
    3,000 W2 articles, and by a fuzz test. ``texts``: no NULLs; returns one span list per text.
    """
    result: list[list[tuple[int, int]]] = [[] for _ in texts]
    begin = 0
    while begin < len(texts):
        end, size = begin, 0
        while end < len(texts) and (end == begin or size + len(texts[end]) <= group_chars):
            size += len(texts[end]) + 1
            end += 1
        _split_group(texts, begin, end, result)
        begin = end
    return result


def _split_group(texts: Sequence[str], begin: int, end: int, result: list[list[tuple[int, int]]]) -> None:
    """Fill ``result[begin:end]`` from one blingfire call on ``texts[begin:end]`` joined by newlines."""
    group = texts[begin:end]
    if len(group) == 1:
        result[begin] = blingfire_spans(group[0])
        return
    lengths = np.fromiter((len(text) for text in group), dtype=np.int64, count=len(group))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    spans = np.asarray(blingfire_spans("\n".join(group)), dtype=np.int64).reshape(-1, 2)
    owner = np.searchsorted(starts, spans[:, 0], side="right") - 1  # the text each span starts in
    runs_on = spans[:, 1] > starts[owner] + lengths[owner]
    last = np.searchsorted(starts, spans[runs_on, 1] - 1, side="right") - 1  # the text of its last character
    alone = np.zeros(len(group) + 1, dtype=np.int64)  # +1 where a run-on span starts, -1 after its last text
    np.add.at(alone, owner[runs_on], 1)
    np.add.at(alone, last + 1, -1)
    alone = np.cumsum(alone[:-1]) > 0
    local = spans - starts[owner][:, None]
    cuts = np.searchsorted(owner, np.arange(len(group) + 1))
    for j in range(len(group)):
        if alone[j]:
            result[begin + j] = blingfire_spans(group[j])
        else:
            result[begin + j] = list(map(tuple, local[cuts[j] : cuts[j + 1]].tolist()))


def blingfire_spans(text: str) -> list[tuple[int, int]]:
    """blingfire's sentence spans as ``[start, end)`` character offsets of ``text``.

    Equal to ``blingfire.text_to_sentences_and_offsets(text)[1]``, but the UTF-8 byte offsets the C
    library returns are mapped to character offsets with numpy instead of that function's per-byte
    Python loop, which took ~55% of summarization time (measured: 3.7 s of 6.9 s for 800 articles).
    """
    import ctypes

    import blingfire

    data = text.encode("utf-8")
    capacity = 2 * len(data) + 16
    output = np.zeros(capacity, dtype=np.uint8)  # np.zeros maps fresh zero pages: far cheaper than a ctypes buffer
    starts = np.empty(capacity, dtype=np.int32)
    ends = np.empty(capacity, dtype=np.int32)
    as_int_pointer = ctypes.POINTER(ctypes.c_int32)
    written = blingfire.blingfire.TextToSentencesWithOffsets(
        ctypes.c_char_p(data), ctypes.c_int(len(data)), output.ctypes.data_as(ctypes.c_char_p),
        starts.ctypes.data_as(as_int_pointer), ends.ctypes.data_as(as_int_pointer), ctypes.c_int(capacity),
    )
    if written == -1 or written > capacity:
        return []
    text_end = int(np.argmin(output)) if not output.all() else capacity  # the output is NUL-terminated
    count = int(np.count_nonzero(output[:text_end] == ord("\n"))) + 1
    first, last = starts[:count].astype(np.int64), ends[:count].astype(np.int64)  # last byte, inclusive
    if len(data) == len(text):  # ASCII: bytes are characters
        return list(zip(first.tolist(), (last + 1).tolist(), strict=True))
    char_of_byte = np.cumsum((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80) - 1
    return list(zip(char_of_byte[first].tolist(), (char_of_byte[last] + 1).tolist(), strict=True))


def _unglue(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split the span ``[start, end)`` at glued sentence ends (no space after the period)."""
    pieces: list[tuple[int, int]] = []
    begin = start
    for match in _GLUE.finditer(text, start, end):
        if _is_abbreviation(text, begin, match.start("mark")):
            continue
        if _DOTTED_NAME.match(text, match.start("next"), end):  # "Halo.Bungie.Org": a name
            continue
        cut = match.start("next")
        if match.group("quote") and _opens_quote(text, begin, match.start("quote")):
            cut = match.start("quote")  # 'deficit."I think': the quote opens the next sentence
        if cut - begin >= 2:
            pieces.append((begin, cut))
            begin = cut
    pieces.append((begin, end))
    return pieces


def _is_abbreviation(text: str, begin: int, mark: int) -> bool:
    """True if the period at ``mark`` ends an initial, a dotted name or a title ("Mr.Benn"), not a sentence."""
    word = _WORD_BEFORE.search(text, begin, mark)
    if word is None:
        return False
    before = text[word.start() - 1] if word.start() > begin else " "
    if before.isdigit() or before == "&":  # "£250m.", "AT&T.": a unit or a name, the period ends a sentence
        return False
    if before == ".":  # "U.S.The", "J.K.Rowling", "Halo.Bungie.Org": initials or a dotted name
        return True
    return (len(word.group()) == 1 and before.isspace()) or word.group().lower() in _ABBREVIATIONS


def _opens_quote(text: str, begin: int, at: int) -> bool:
    """True if the double quote at ``at`` opens a quotation: the sentence so far has balanced quotes."""
    return sum(text.count(q, begin, at) for q in '"\u201c\u201d') % 2 == 0


def _cover(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Make ``spans`` cover every non-whitespace character, trimmed, sorted and non-overlapping.

    blingfire's spans normally do; this guarantees it, so no text is ever dropped silently. A gap
    holding text is joined to the sentence before it (or the first sentence, at the very start).
    """
    spans = sorted(s for s in spans if s[1] > s[0])
    merged: list[list[int]] = []
    cursor = 0
    for start, end in spans:
        start = max(start, cursor)
        if end <= start:
            continue
        if text[cursor:start].strip():
            if merged:
                merged[-1][1] = start
            else:
                start = cursor
        merged.append([start, end])
        cursor = end
    if text[cursor:].strip():
        if merged:
            merged[-1][1] = len(text)
        else:
            merged.append([cursor, len(text)])
    out: list[tuple[int, int]] = []
    for start, end in merged:
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > start + lead:
            out.append((start + lead, end - trail))
    return out
