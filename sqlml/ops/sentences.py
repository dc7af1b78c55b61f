"""Sentence splitting: the one splitter of the project (summarize and top_k_sentences both use it).

Returns sentences with their position and character span in the original text; the text of a
sentence is ``text[start:end]`` verbatim, so output sentences are always substrings of the input.

The splitter is blingfire (a compiled finite-state model; chosen by measurement, see
``docs/summarize.md``) plus one repair pass: blingfire keeps sentences glued without a space after the
period (``"$10.9bn.For the full-year"``, the BBC summaries' quirk) as one sentence, so such glue
points are split again, unless the period ends a title (``Mr.Benn``), an initial (``J.K.Rowling``) or
a part of a dotted name (``Halo.Bungie.Org``). A double quote at a glue point goes with the sentence
it opens (quote parity), so ``deficit."I think`` splits before the quote. A title that blingfire returns as a
sentence of its own (``Daniel Reyes. Mr. Reyes said`` gives ``Mr.``) is joined to the sentence after it.

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
# Titles that precede a name: a span of nothing else is never a sentence ("Mr." alone, from "Reyes. Mr. Reyes said").
_TITLES = frozenset("mr mrs ms dr prof st gen col capt lt sgt rep sen gov rev hon messrs".split())
# Words that take a period and are followed by a name, so "Mr.Benn" is not a sentence end.
_ABBREVIATIONS = _TITLES | frozenset("jr sr mt ft fig no vs etc inc ltd co corp".split())
_TITLE_ALONE = re.compile(rf"(?:{'|'.join(sorted(_TITLES))})\.", re.IGNORECASE)
_TITLE_CHARS = max(map(len, _TITLES)) + 1  # the longest span _TITLE_ALONE matches
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
    if _GLUE_HINT.search(text) is not None:
        spans = [piece for start, end in spans for piece in _unglue(text, start, end)]
    return _join_titles(text, spans)


def _join_titles(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with each span that is only a title (``_TITLE_ALONE``) joined to the span after it (a last one stays)."""
    out: list[tuple[int, int]] = []
    carry: int | None = None  # where the titles waiting for their sentence begin
    for start, end in spans:
        if end - start <= _TITLE_CHARS and _TITLE_ALONE.fullmatch(text, start, end):
            carry = start if carry is None else carry
            continue
        out.append((start if carry is None else carry, end))
        carry = None
    if carry is not None:
        out.append((carry, spans[-1][1]))
    return out


@dataclass(frozen=True)
class SentenceBatch:
    """The sentences of many texts, flat: text ``i`` has ``sentences[offsets[i]:offsets[i + 1]]``.

    ``sentences``: verbatim sentence strings in reading order, text after text; ``offsets``: ``int64
    (texts + 1,)``, non-decreasing, from 0 to ``len(sentences)``. A NULL or blank text has no sentences.
    """

    sentences: list[str]
    offsets: np.ndarray


# Texts are given to blingfire in groups of about this many characters, joined by a newline (see
# split_texts): ~5 groups per 1,024 news articles. Each group costs a few dozen numpy calls that give up the
# GIL, so fewer, larger groups wait less under contention (64k-character groups are 2x slower); the price is ~30 MB of temporaries per splitting thread (blingfire's buffers: 18 bytes per byte).
GROUP_CHARS = 1 << 20
# Character classes by table for ASCII (index 128 stands for every other code point): what str.isspace()
# is true for (beyond ASCII: _OTHER_SPACES; a test checks every code point) and _GLUE_HINT's parts.
_SPACE, _END_MARK, _CAPITAL, _QUOTE = 1, 2, 3, 4
_ASCII_CLASS = np.zeros(129, dtype=np.uint8)
_ASCII_CLASS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = _SPACE
_ASCII_CLASS[[ord(c) for c in ".!?"]] = _END_MARK
_ASCII_CLASS[ord("A") : ord("Z") + 1] = _CAPITAL
_ASCII_CLASS[ord('"')] = _QUOTE
_OTHER_SPACES = np.array([0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000], dtype=np.uint32)
_OTHER_QUOTES = np.array([0x201C, 0x201D], dtype=np.uint32)


def split_texts(texts: Sequence[str | None], group_chars: int = GROUP_CHARS) -> SentenceBatch:
    """Split every text as :func:`split_sentences` does, into one flat :class:`SentenceBatch`; NULL → none.

    Texts go to blingfire in groups of about ``group_chars`` characters, one call per group
    (:func:`_split_group`), not one per text, and the repair pass runs in Python only for the texts
    that need it. Why: every C call and every per-sentence Python step holds or retakes the GIL, and
    with DuckDB's threads busy in Python each retake waits up to the 5 ms switch interval (grouping is
    about 4x faster under that contention; benchmarks/NOTES.md has the measurements).
    """
    present = [i for i, text in enumerate(texts) if text is not None]
    lengths = [len(texts[i]) for i in present]  # type: ignore[arg-type]
    sentences: list[str] = []
    counts = np.zeros(len(texts) + 1, dtype=np.int64)
    begin = 0
    while begin < len(present):
        end, size = begin, 0
        while end < len(present) and (end == begin or size + lengths[end] <= group_chars):
            size += lengths[end] + 1
            end += 1
        group_sentences, group_counts = _split_group([texts[i] for i in present[begin:end]])  # type: ignore[misc]
        sentences.extend(group_sentences)
        counts[np.asarray(present[begin:end]) + 1] = group_counts
        begin = end
    return SentenceBatch(sentences, np.cumsum(counts))


def _split_group(group: list[str]) -> tuple[list[str], np.ndarray]:
    """The sentences of every text of ``group``, text after text, and ``int64 (len(group),)`` counts.

    One blingfire call on the texts joined by newlines (which blingfire reads as spaces). Most texts'
    spans are then final as they are; numpy finds the rest (:func:`_texts_to_repair`): a text whose
    sentence runs on into the next text (it ends without an end mark) and the texts that span touches
    are split alone; a text whose spans miss text or have untrimmed edges, or that may hold a glued
    sentence end, goes through :func:`_repaired`. So each text gets exactly its own
    :func:`sentence_spans` (checked on all 4,450 BBC bodies and summaries and 3,000 generated news articles, and by
    a fuzz test).
    """
    if len(group) == 1:
        spans = sentence_spans(group[0])
        return [group[0][start:end] for start, end in spans], np.array([len(spans)], dtype=np.int64)
    joined = "\n".join(group)
    lengths = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    spans = _span_array(joined)
    spans = spans[np.argsort(spans[:, 0], kind="stable")]  # in reading order (blingfire's are; _cover sorts too)
    owner = np.searchsorted(starts, spans[:, 0], side="right") - 1  # the text each span starts in
    alone, repair = _texts_to_repair(joined, spans, owner, starts, lengths)
    keep = ~(alone | repair)[owner]
    owners, firsts, lasts = [owner[keep]], [spans[keep, 0]], [spans[keep, 1]]
    cuts = np.searchsorted(owner, np.arange(len(group) + 1))  # text j's spans: cuts[j]:cuts[j + 1]
    for j in np.flatnonzero(alone | repair).tolist():
        text = group[j]
        if alone[j]:
            fixed = sentence_spans(text)
        else:
            own = spans[cuts[j] : cuts[j + 1]] - starts[j]
            fixed = _repaired(text, [(a, b) for a, b in own.tolist()]) if text.strip() else []
        local = np.array(fixed, dtype=np.int64).reshape(-1, 2) + starts[j]
        owners.append(np.full(len(local), j))
        firsts.append(local[:, 0])
        lasts.append(local[:, 1])
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")  # text after text; each text's spans are in order already
    first, last = np.concatenate(firsts)[order], np.concatenate(lasts)[order]
    sentences = list(map(joined.__getitem__, map(slice, first.tolist(), last.tolist())))
    return sentences, np.bincount(owner, minlength=len(group)).astype(np.int64)


def _texts_to_repair(joined: str, spans: np.ndarray, owner: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two ``bool (texts,)`` masks over the texts of ``joined`` (starting at ``starts``, ``lengths`` long).

    ``alone``: the text needs its own blingfire call: a span of blingfire's ``spans`` (``(n, 2)``
    character offsets into ``joined``; ``owner``: the text each starts in) runs on into it or out of
    it (the span's text ended without an end mark), or it got no span (blank, or the call failed).
    ``repair``: the text's spans are not final as they stand: one is empty, out of order or untrimmed,
    a gap around them holds non-whitespace (all of which :func:`_cover` fixes), it may hold a glued
    sentence end (``_GLUE_HINT``, which :func:`_unglue` handles), or one is a title alone (:func:`_join_titles`). Every other text's spans are exactly
    its :func:`sentence_spans`.
    """
    texts = len(starts)
    text_end = starts + lengths
    first, last = spans[:, 0], spans[:, 1]
    runs_on = last > text_end[owner]
    final_text = np.searchsorted(starts, last[runs_on] - 1, side="right") - 1  # the text of its last character
    alone = np.zeros(texts + 1, dtype=np.int64)  # +1 where a run-on span starts, -1 after its last text
    np.add.at(alone, owner[runs_on], 1)
    np.add.at(alone, final_text + 1, -1)
    alone = np.cumsum(alone[:-1]) > 0

    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    kind = _ASCII_CLASS[np.minimum(codes, 128)]
    if not joined.isascii():
        other = np.flatnonzero(codes > 127)
        kind[other[np.isin(codes[other], _OTHER_SPACES)]] = _SPACE
        kind[other[np.isin(codes[other], _OTHER_QUOTES)]] = _QUOTE
    space = kind == _SPACE
    non_space = np.flatnonzero(~space)

    def solid(i: np.ndarray) -> np.ndarray:  # non-whitespace characters before each position i
        return np.searchsorted(non_space, i)

    opens = np.concatenate([[True], owner[1:] != owner[:-1]])  # the first span of its text
    closes = np.concatenate([owner[1:] != owner[:-1], [True]])
    previous_end = np.where(opens, starts[owner], np.concatenate([[0], last[:-1]]))
    inside = np.clip(np.stack([first, last - 1]), 0, max(len(codes) - 1, 0))
    bad = (
        (last <= first) | (first < previous_end) | space[inside[0]] | space[inside[1]]
        | (solid(first) != solid(previous_end))  # text in the gap before the span
        | (closes & (solid(np.maximum(text_end[owner], last)) != solid(last)))  # text after a text's last span
    )
    repair = np.bincount(owner[bad], minlength=texts) > 0
    for i in np.flatnonzero(last - first <= _TITLE_CHARS).tolist():  # short spans are few; a title alone is joined
        if _TITLE_ALONE.fullmatch(joined, int(first[i]), int(last[i])):
            repair[owner[i]] = True
    alone |= np.bincount(owner, minlength=texts) == 0  # blank, or blingfire failed on the group
    padded = np.append(kind, np.zeros(2, dtype=np.uint8))
    marks = np.flatnonzero(padded[:-2] == _END_MARK)
    after, later = padded[marks + 1], padded[marks + 2]
    hint = marks[(after == _CAPITAL) | ((after == _QUOTE) & (later == _CAPITAL))]
    repair[np.searchsorted(starts, hint, side="right") - 1] = True
    return alone, repair & ~alone


def blingfire_spans(text: str) -> list[tuple[int, int]]:
    """blingfire's sentence spans as ``[start, end)`` character offsets of ``text``.

    Equal to ``blingfire.text_to_sentences_and_offsets(text)[1]``, but the UTF-8 byte offsets the C
    library returns are mapped to character offsets with numpy instead of that function's per-byte
    Python loop, which took ~55% of summarization time (measured: 3.7 s of 6.9 s for 800 articles).
    """
    return [(start, end) for start, end in _span_array(text).tolist()]


def _span_array(text: str) -> np.ndarray:
    """:func:`blingfire_spans` as ``int64 (spans, 2)``."""
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
        return np.zeros((0, 2), dtype=np.int64)
    text_end = int(np.argmin(output)) if not output.all() else capacity  # the output is NUL-terminated
    count = int(np.count_nonzero(output[:text_end] == ord("\n"))) + 1
    first, last = starts[:count].astype(np.int64), ends[:count].astype(np.int64)  # last byte, inclusive
    if len(data) != len(text):  # not ASCII: map bytes to characters (a character starts at each non-continuation byte)
        char_starts = np.flatnonzero((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80)
        first, last = np.searchsorted(char_starts, first, side="right") - 1, np.searchsorted(char_starts, last, side="right") - 1
    return np.stack([first, last + 1], axis=1)


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
