"""Batch shape planning, in one place: how rows are cut into batches, padded to few shapes, and laid end
to end for the packed forward pass (pure numpy functions: no torch, no threads).

Padded batches (:func:`plan_batches`) hold length-sorted rows under a row and padded-token budget. When
the model replays CUDA graphs (``engine/cuda/graphs.py``), which need fixed shapes, their lengths and
row counts are rounded up to a few buckets (:func:`bucket_length`, :func:`bucket_rows`). Packed
batches (:func:`plan_packed`, :func:`pack`) hold rows in their order under a row and real-token budget,
filled to a few capacities (:func:`packed_capacity`, :func:`packed_ladder`) when graphs replay them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sqlml.models.tokens import TokenBatch

#: The shortest padded length; lengths above it are rounded up to the next 2^k or 3·2^(k-1).
MIN_LENGTH = 16
#: The smallest padded row count of a batch that does not fill its token budget.
MIN_ROWS = 64
#: Packed batches: filler tokens (past the real ones, up to the capacity) form sequences of at most this many.
FILLER_LENGTH = 64
#: Packed batches: token capacities are multiples of ``max_batch_tokens`` / this.
TOKEN_STEPS = 8
#: Packed batches: a capacity of T tokens has room for T / 16, / 8, / 4 or / 2 sequences (the first that fits).
SEQUENCE_DIVISORS = (16, 8, 4, 2)


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


def bucket_length(lengths: np.ndarray | int, max_len: int) -> np.ndarray:
    """Padded length for rows of ``lengths`` tokens: the next of 16, 24, 32, 48, 64, 96, ... (at most
    ``max_len``, at least the length itself). Elementwise; ``int64``."""
    x = np.maximum(np.asarray(lengths, dtype=np.int64), 1)
    power = np.maximum(MIN_LENGTH, 1 << np.ceil(np.log2(x)).astype(np.int64))  # next power of two
    three_quarters = power // 4 * 3  # 3·2^(k-2): between the previous power and this one
    bucket = np.where((x <= three_quarters) & (three_quarters >= MIN_LENGTH), three_quarters, power)
    return np.maximum(np.minimum(bucket, max_len), x)


def bucket_rows(rows: int, capacity: int) -> int:
    """Padded row count of a batch of ``rows`` rows that may hold ``capacity``: ``capacity`` when full;
    else the smallest of ``capacity`` / 2, / 4, / 8, / 16 (rounded up) that holds it; a batch smaller
    than that gets the next power of two (at least :data:`MIN_ROWS`). At most 2x the rows, and few
    shapes: each new shape costs a capture."""
    if rows >= capacity:
        return rows
    for parts in (16, 8, 4, 2):
        size = -(-capacity // parts)
        if rows <= size:
            return size if parts < 16 or 2 * rows > size else min(size, max(MIN_ROWS, 1 << (rows - 1).bit_length()))
    return capacity


def packed_capacity(tokens: int, sequences: int, max_batch_tokens: int) -> tuple[int, int]:
    """``(token capacity, sequence capacity)`` of a packed batch of ``tokens`` tokens in ``sequences``
    sequences: tokens rounded up to a multiple of ``max_batch_tokens`` / :data:`TOKEN_STEPS`, and the
    first of :data:`SEQUENCE_DIVISORS` that holds the real sequences plus the filler ones
    (:func:`filler_sequences`). So a job needs about :data:`TOKEN_STEPS` graphs (:func:`packed_ladder`);
    filler costs at most 1/8 of a full batch, and empty sequences little (attention blocks that exit)."""
    step = _token_step(max_batch_tokens)
    capacity = max(step, -(-tokens // step) * step)
    needed = sequences + filler_sequences(tokens, capacity)
    for divisor in SEQUENCE_DIVISORS:
        if needed <= capacity // divisor:
            return capacity, capacity // divisor
    return capacity, needed  # rows of one token each: a shape of its own


def filler_sequences(tokens: int, capacity: int) -> int:
    """Sequences of at most :data:`FILLER_LENGTH` tokens that fill ``tokens`` real tokens up to ``capacity``."""
    return -(-(capacity - tokens) // FILLER_LENGTH)


def packed_ladder(max_batch_tokens: int) -> list[tuple[int, int]]:
    """The capacities that batches of rows of 16 or more tokens on average get (:func:`packed_capacity`),
    smallest first: capturing them before the first batch keeps captures out of a job's first pass."""
    step = _token_step(max_batch_tokens)
    return [(step * i, step * i // SEQUENCE_DIVISORS[0]) for i in range(1, TOKEN_STEPS + 1)]


def _token_step(max_batch_tokens: int) -> int:
    """The step between packed token capacities."""
    return max(1, -(-max_batch_tokens // TOKEN_STEPS))


def pack(tokens: TokenBatch, start: int, stop: int, capacity: tuple[int, int] | None = None, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start .. stop - 1`` of ``tokens`` laid end to end: ``(ids, cu)``, ``int32 (tokens,)`` and
    ``int32 (sequences + 1,)`` (the running sum of their lengths, from 0).

    ``capacity``: ``(tokens, sequences)`` to fill (:func:`packed_capacity`): the ids past the real ones
    are ``pad_id`` in filler sequences of at most :data:`FILLER_LENGTH` tokens, and the sequences past
    those are empty (``cu`` repeats its last value).
    """
    first, last = int(tokens.offsets[start]), int(tokens.offsets[stop])
    bounds = tokens.offsets[start : stop + 1] - first
    if capacity is None:
        return tokens.ids[first:last].astype(np.int32, copy=False), bounds.astype(np.int32)
    size, sequences = capacity
    used = last - first
    if size < used or sequences < stop - start + filler_sequences(used, size):
        raise ValueError(f"cannot pack {stop - start} rows of {used} tokens into capacity {capacity}")
    ids = np.full(size, pad_id, dtype=np.int32)
    ids[:used] = tokens.ids[first:last]
    cu = np.full(sequences + 1, size, dtype=np.int32)
    cu[: stop - start + 1] = bounds
    filler = np.arange(used + FILLER_LENGTH, size, FILLER_LENGTH, dtype=np.int32)
    cu[stop - start + 1 : stop - start + 1 + len(filler)] = filler
    return ids, cu
