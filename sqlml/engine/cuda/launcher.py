"""An encoder's fast paths on its device: what the runtime launches batches through.

A loaded :class:`~sqlml.models.encoder.Encoder` knows its plain forward pass. :class:`Launcher` adds how
batches run fast:

* on CUDA, the inputs go through pinned memory and the result comes back with a non-blocking copy, all
  on the launcher's own stream, so the runtime pads batch i+1 while batch i runs, and a device sync
  elsewhere in the process (k-means, another library) does not wait for queued batches;
* CUDA graphs (:mod:`sqlml.engine.cuda.graphs`) of padded shapes or packed capacities, replayed with
  one host call (``SQLML_CUDA_GRAPHS``);
* the packed forward pass (:mod:`sqlml.engine.cuda.packed`, ``SQLML_PACKED``), which needs no padding.

Elsewhere (CPU, MPS) a launch is the encoder's forward pass, run at once. There is one launcher per
loaded encoder (:func:`launcher_for`): runtimes of one encoder with other batch settings share its
stream and captured graphs, as they share its weights.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.engine.batching import FILLER_LENGTH, bucket_length
from sqlml.engine.cuda.graphs import ShapeGraphs
from sqlml.engine.cuda.packed import PackedEncoder, choose_packed
from sqlml.engine.pending import Ready
from sqlml.models.encoder import Encoder

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class Launcher:
    """Launch batches of one :class:`~sqlml.models.encoder.Encoder` on its device. Call from one thread
    at a time (the runtime's worker)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._stream: Any = None
        self._graphs: ShapeGraphs | None = None
        self._packed: PackedEncoder | None = choose_packed(encoder.model, encoder.device, encoder.dtype)
        if encoder.device.startswith("cuda"):
            import torch

            self._stream = torch.cuda.Stream(encoder.device)
            if not config.resolve("cuda_graphs", None, True, config.parse_bool):
                return
            if self._packed is not None and self._packed.flash:  # fixed attention bound: fixed shapes per capacity
                self._graphs = ShapeGraphs(self._packed_graph_forward, encoder.device, self._stream)
            elif self._packed is None and encoder.host_sync_free:
                self._graphs = ShapeGraphs(encoder.device_forward, encoder.device, self._stream)

    def launch(self, input_ids: np.ndarray, attention_mask: np.ndarray, replay: bool = False) -> _Pending | Ready:
        """Queue one padded batch (``int64 (rows, length)`` ids and mask) and return at once; ``.result()``
        waits for the ``float32 (rows, dimension)`` array, L2-normalised.

        On CUDA the inputs go through pinned memory and the result comes back with a non-blocking copy,
        on the launcher's own stream. ``replay``: run the batch as the CUDA graph of its shape when
        :attr:`pads_to_buckets`; the caller keeps the number of shapes small. Elsewhere it is the
        encoder's ``forward``.
        """
        if self._stream is None:
            return Ready(self.encoder.forward(input_ids, attention_mask))
        return self._launch_cuda(input_ids, attention_mask, replay and self.pads_to_buckets, self.encoder.device_forward)

    def launch_packed(self, ids: np.ndarray, cu: np.ndarray, replay: bool = False) -> _Pending | Ready:
        """Queue one packed batch (:func:`sqlml.engine.batching.pack`: ``int32 (tokens,)`` ids and ``int32
        (sequences + 1,)`` sequence bounds); ``.result()`` gives ``float32 (sequences, dimension)``,
        L2-normalised (empty sequences: zeros). ``replay``: run it as the CUDA graph of its capacity when
        :attr:`replays_packed_graphs`. Only when :attr:`packs_tokens`."""
        import torch

        if self._stream is None:
            with torch.inference_mode():
                return Ready(self._packed_device_forward(torch.from_numpy(ids), torch.from_numpy(cu), _longest(cu)).numpy())
        # the attention bound is only needed when the batch runs without its graph
        return self._launch_cuda(ids, cu, replay and self.replays_packed_graphs, lambda i, c: self._packed_device_forward(i, c, _longest(cu)))

    def capture_packed(self, capacities: list[tuple[int, int]]) -> None:
        """Capture the packed forward pass's graph for each ``(tokens, sequences)`` capacity (and run it
        once, on filler input) when :attr:`replays_packed_graphs`: a job's first batches then replay
        instead of capturing. Call from the runtime's worker only. A failure (out of memory on a small
        GPU, say) stops the capturing with a warning: batches then capture or run as they come."""
        for tokens, sequences in capacities:
            if not self.replays_packed_graphs:  # off, or a capture failed (ShapeGraphs turned them off)
                return
            ids = np.full(tokens, self.encoder.pad_id, dtype=np.int32)
            cu = np.minimum(np.arange(sequences + 1, dtype=np.int64) * FILLER_LENGTH, tokens).astype(np.int32)
            try:
                self._launch_cuda(ids, cu, True, self._packed_graph_forward).result()
            except Exception as exc:  # noqa: BLE001 - capturing ahead is an optimisation, never a failure
                log.warning("sqlml: capturing the packed graph of %d tokens ahead failed (%s: %s); batches capture as they come",
                            tokens, type(exc).__name__, exc)
                import torch

                torch.cuda.empty_cache()
                return

    def _launch_cuda(
        self, first: np.ndarray, second: np.ndarray, replay: bool, forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> _Pending:
        """Pin both inputs, run ``forward`` on them (or replay the graph of their shapes) on the launcher's
        stream, and queue the result's copy back to pinned host memory."""
        import torch

        with torch.cuda.stream(self._stream), torch.inference_mode():
            first_host = torch.from_numpy(first).pin_memory()
            second_host = torch.from_numpy(second).pin_memory()
            result = self._graphs(first_host, second_host) if replay else None
            if result is None:
                device = self.encoder.device
                result = forward(first_host.to(device, non_blocking=True), second_host.to(device, non_blocking=True))
            host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(result, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        return _Pending(host, event)

    @property
    def packs_tokens(self) -> bool:
        """True when batches should come packed (:meth:`launch_packed`), not padded (:func:`~sqlml.engine.cuda.packed.choose_packed`)."""
        return self._packed is not None

    @property
    def replays_packed_graphs(self) -> bool:
        """True when packed batches should be filled to :func:`sqlml.engine.batching.packed_capacity` and
        launched with ``replay=True``: CUDA graphs are on for the packed forward pass."""
        return self._packed is not None and self._graphs_on

    @property
    def pads_to_buckets(self) -> bool:
        """True when batches should come padded to few shapes (:func:`sqlml.engine.batching.bucket_length`,
        :func:`~sqlml.engine.batching.bucket_rows`) and be launched with ``replay=True``: CUDA graphs are on."""
        return self._packed is None and self._graphs_on

    @property
    def _graphs_on(self) -> bool:
        """CUDA graphs exist for this encoder and no capture has turned them off."""
        return self._graphs is not None and self._graphs.disabled_because is None

    def padded_lengths(self, lengths: np.ndarray) -> np.ndarray:
        """The padded length of a batch whose longest row has ``lengths`` tokens (``int64``, elementwise):
        the bucket when :attr:`pads_to_buckets`, else the length itself."""
        return bucket_length(lengths, self.encoder.max_seq_length) if self.pads_to_buckets else lengths

    def _packed_device_forward(self, ids: torch.Tensor, cu: torch.Tensor, longest: int) -> torch.Tensor:
        """Packed ``int32`` ids and bounds (device tensors) → ``float32 (sequences, dimension)``, L2-normalised."""
        import torch

        assert self._packed is not None
        pooled = self._packed.forward(ids, cu, longest)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def _packed_graph_forward(self, ids: torch.Tensor, cu: torch.Tensor) -> torch.Tensor:
        """The packed forward pass with the attention bound fixed at ``max_seq_length`` (what graphs capture)."""
        return self._packed_device_forward(ids, cu, self.encoder.max_seq_length)


def _longest(cu: np.ndarray) -> int:
    """The longest sequence of packed bounds ``cu`` (at least 1)."""
    return max(1, int(np.diff(cu).max(initial=1)))


class _Pending:
    """A CUDA batch in flight: pinned host tensor filled once ``event`` completes."""

    def __init__(self, host: torch.Tensor, event: torch.cuda.Event) -> None:
        self.host = host
        self.event = event

    def result(self) -> np.ndarray:
        self.event.synchronize()
        return self.host.numpy()


_launchers: dict[int, Launcher] = {}
_launchers_lock = threading.Lock()


def launcher_for(encoder: Encoder) -> Launcher:
    """The process's launcher of ``encoder``, created on first use (its stream, and its CUDA graphs as
    they are captured, are shared by every runtime of the encoder). ``SQLML_PACKED`` and
    ``SQLML_CUDA_GRAPHS`` are read then."""
    with _launchers_lock:
        launcher = _launchers.get(id(encoder))
        if launcher is None:  # the launcher holds its encoder, so the id names that encoder while it is here
            launcher = _launchers[id(encoder)] = Launcher(encoder)
        return launcher
