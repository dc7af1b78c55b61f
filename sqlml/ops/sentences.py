"""Sentence splitting: the one splitter of the project (summarize and top_k_sentences both use it).

Returns sentences with their position and character span in the original text; the text of a
sentence is ``text[start:end]`` verbatim, so output sentences are always substrings of the input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    """One sentence: 0-based ``position`` in the text and its ``[start, end)`` character span."""

    position: int
    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences (blingfire). Empty or whitespace-only text gives ``[]``."""
    import blingfire

    if not text.strip():
        return []
    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    return [Sentence(i, start, end, text[start:end]) for i, (start, end) in enumerate(offsets)]
