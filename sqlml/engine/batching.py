"""How length-sorted rows are cut into batches (pure functions: no torch, no threads)."""

from __future__ import annotations

from collections.abc import Iterator

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


def plan_packed(offsets: np.ndarray, batch_size: int, max_batch_tokens: int) -> Iterator[slice]:
    """Cut rows in their order into consecutive slices of at most ``batch_size`` rows and at most
    ``max_batch_tokens`` tokens (no padding: a packed batch's cost is its real tokens), except that a
    single row longer than the budget forms its own batch. ``offsets``: ``int64 (rows + 1,)``, the
    running sum of the rows' lengths from 0."""
    n = len(offsets) - 1
    start = 0
    while start < n:
        fits = int(np.searchsorted(offsets, offsets[start] + max_batch_tokens, side="right")) - 1
        stop = min(max(fits, start + 1), start + batch_size, n)
        yield slice(start, stop)
        start = stop
