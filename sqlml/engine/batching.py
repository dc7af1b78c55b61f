"""Pure functions that turn token-id lists into padded, length-sorted batches (no torch, no threads)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np


def plan_batches(sorted_lengths: np.ndarray, batch_size: int, max_batch_tokens: int) -> Iterator[slice]:
    """Cut rows sorted by descending length into consecutive slices.

    Each slice has at most ``batch_size`` rows and at most ``max_batch_tokens`` padded tokens
    (rows × its longest row), except that a single row longer than the budget forms its own batch.
    """
    n = len(sorted_lengths)
    start = 0
    while start < n:
        longest = max(int(sorted_lengths[start]), 1)
        count = min(batch_size, max(1, max_batch_tokens // longest), n - start)
        yield slice(start, start + count)
        start += count


def pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token-id lists into ``(input_ids, attention_mask)``, both ``int64`` ``(rows, longest)``."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    longest = int(lengths.max()) if len(lengths) else 0
    mask = np.arange(longest, dtype=np.int64)[None, :] < lengths[:, None]
    ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
    return ids, mask.astype(np.int64)
