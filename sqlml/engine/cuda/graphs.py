"""CUDA graphs of an encoder's forward pass, one per padded batch shape.

Launched from Python, one forward pass of a 6-layer encoder is ~100 kernel launches, each through
several layers of ``nn.Module`` calls: ~15 ms of host time per batch, all of it holding the GIL that
DuckDB's 16 threads also need for their glue (H100 profile, benchmarks/NOTES.md). A captured graph
replays the same kernels with one host call. Graphs need fixed shapes, so the runtime pads batches
to a few shapes (:func:`bucket_length`, :func:`bucket_rows`) when the model asks for them.

Used only on CUDA, only for models whose forward pass has no host sync (the prepared 4-D mask of
:mod:`sqlml.models.encoder`), and not when ``SQLML_CUDA_GRAPHS=0``. A capture that fails turns graphs
off for that model (a warning says why); the batch then runs without them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: The shortest padded length; lengths above it are rounded up to the next 2^k or 3·2^(k-1).
MIN_LENGTH = 16
#: The smallest padded row count of a batch that does not fill its token budget.
MIN_ROWS = 64


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


#: Packed batches: filler tokens (past the real ones, up to the capacity) form sequences of at most this many.
FILLER_LENGTH = 64
#: Packed batches: token capacities are multiples of ``max_batch_tokens`` / this.
TOKEN_STEPS = 8
#: Packed batches: a capacity of T tokens has room for T / 16, / 8, / 4 or / 2 sequences (the first that fits).
SEQUENCE_DIVISORS = (16, 8, 4, 2)


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


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    output: torch.Tensor


class ShapeGraphs:
    """``forward(input_ids, attention_mask) -> output`` (device tensors) as one CUDA graph per input shape.

    All graphs share one memory pool: they are replayed one at a time on ``stream``, and each result
    is copied out (queued on the same stream) before the next replay. Call from one thread only.
    """

    def __init__(self, forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], device: str, stream: torch.cuda.Stream) -> None:
        self._forward = forward
        self._device = device
        self._stream = stream
        self._graphs: dict[tuple[int, ...], _Graph] = {}
        self._pool: object | None = None
        self.disabled_because: str | None = None

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | None:
        """Replay the graph of these input shapes (capturing it on first use) with these host tensors
        (pinned): ``int64 (rows, length)`` ids and mask for a padded forward pass, or ``int32`` packed ids
        and sequence bounds for a packed one (:mod:`sqlml.engine.cuda.packed`). The result lives on the device
        until the next call. ``None`` when graphs are off (a capture failed): run the forward pass without them."""
        if self.disabled_because is not None:
            return None
        shape = (*input_ids.shape, *attention_mask.shape)
        entry = self._graphs.get(shape)
        if entry is None:
            entry = self._capture(input_ids, attention_mask)
            if entry is None:
                return None
            self._graphs[shape] = entry
        entry.input_ids.copy_(input_ids, non_blocking=True)
        entry.attention_mask.copy_(attention_mask, non_blocking=True)
        entry.graph.replay()
        return entry.output

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The captured input shapes: ``(rows, length, rows, length)`` padded, ``(tokens, sequences + 1)`` packed."""
        return list(self._graphs)

    def _capture(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Graph | None:
        import torch

        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        static_ids = input_ids.to(self._device, non_blocking=True)
        static_mask = attention_mask.to(self._device, non_blocking=True)
        try:
            for _ in range(2):  # warm-up outside the graph (library handles, workspaces), as torch requires
                self._forward(static_ids, static_mask)
            graph = torch.cuda.CUDAGraph()
            # The capture calls themselves, not ``torch.cuda.graph``: that one empties the device and
            # pinned-host caches and syncs the device before every capture (~0.1-0.3 s each here).
            # thread_local: DuckDB threads clustering on other streams meanwhile do not break the capture.
            with torch.cuda.stream(self._stream):
                graph.capture_begin(self._pool, capture_error_mode="thread_local")
                try:
                    output = self._forward(static_ids, static_mask)
                finally:
                    graph.capture_end()
        except Exception as exc:  # noqa: BLE001 - any failure means: run this model without graphs
            self.disabled_because = f"{type(exc).__name__}: {exc}"
            log.warning("sqlml: CUDA graphs are off for this model (capture failed: %s); batches run without them", self.disabled_because)
            return None
        return _Graph(graph, static_ids, static_mask, output)
