"""CUDA graphs of an encoder's forward pass, one per batch shape (padded) or capacity (packed).

Launched from Python, one forward pass of a 6-layer encoder is ~100 kernel launches, each through
several layers of ``nn.Module`` calls: ~15 ms of host time per batch, all of it holding the GIL that
DuckDB's threads also need for their glue. A captured graph
replays the same kernels with one host call. Graphs need fixed shapes, so the runtime pads batches
to a few shapes (:func:`~sqlml.engine.batching.bucket_length`, :func:`~sqlml.engine.batching.bucket_rows`)
or fills packed ones to a few capacities (:func:`~sqlml.engine.batching.packed_capacity`) when the
launcher (:mod:`sqlml.engine.cuda.launcher`) replays graphs.

Used only on CUDA, only for forward passes without a host sync (the prepared 4-D mask of
:mod:`sqlml.models.encoder`, or the packed pass with flash attention), and not when
``SQLML_CUDA_GRAPHS=0``. A capture that fails turns graphs off for that model (a warning says why);
the batch then runs without them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


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
