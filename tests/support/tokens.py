"""Test helpers for tokens: build a :class:`sqlml.models.tokens.TokenBatch` from a padded matrix, read one
back as lists, and generate texts that exercise every tokenizer path."""

from __future__ import annotations

import random

import numpy as np

from sqlml.models.tokens import TokenBatch, offsets_of


def from_padded(padded: np.ndarray, lengths: np.ndarray) -> TokenBatch:
    """A batch from a ``(rows, width)`` matrix whose row ``i`` holds ``lengths[i]`` ids, left-aligned."""
    keep = np.arange(padded.shape[1])[None, :] < lengths[:, None]
    return TokenBatch(np.ascontiguousarray(padded[keep], dtype=np.int32), offsets_of(lengths))


def to_lists(batch: TokenBatch) -> list[list[int]]:
    """Every row of ``batch`` as a list of ints."""
    return [batch.ids[batch.offsets[i] : batch.offsets[i + 1]].tolist() for i in range(len(batch))]


def varied_texts(vocab: list[str], count: int, seed: int = 0) -> list[str]:
    """Sentences of vocabulary words, punctuation, digits, odd whitespace, control characters, accents,
    CJK, emoji, special-token text, overlong words and texts past the window (seeded)."""
    rng = random.Random(seed)
    printable = [chr(i) for i in range(32, 127)]
    odd = ["\t", "\n", "\r\n", "\x00", "\x07", "\x1b", "\x7f", "é", "ß", "£", "—", "“", "中", "😀", "\u00a0", "\u200b", "İ", "ﬁ"]
    pieces: list[str] = []
    texts = ["", " ", "\t\n", "a" * 100, "a" * 101, "1" * 150 + " tail", "[SEP] [cls] [unk]", "x" * 20_000, "word " * 3000]
    while len(texts) < count:
        pieces.clear()
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < 0.55:
                pieces.append(rng.choice(vocab).removeprefix("##") if r < 0.45 else rng.choice(vocab))
            elif r < 0.8:
                pieces.append("".join(rng.choice(printable) for _ in range(rng.randint(1, 8))))
            elif r < 0.85:
                pieces.append(rng.choice(odd))
            elif r < 0.9:
                pieces.append("".join(rng.choice(vocab).removeprefix("##") for _ in range(rng.randint(2, 12))))
            pieces.append(rng.choice([" ", " ", "", ", ", ". "]))
        texts.append("".join(pieces))
    return texts
