"""Lloyd iterations of many zero-padded k-means problems at once, in torch; on CUDA as captured graphs.

The problems of one call are padded into ``x`` (``float64 (sets, width, dim)``, point ``j`` of set ``i``
real when ``j < sizes[i]``) with starting centers ``(sets, k, dim)`` (set ``i`` uses its first ``ks[i]``).
Each iteration moves every center to the mean of its points (a center without points stays) and assigns
each point to its nearest center (the lowest index on a tie), until no label changes or ``max_iter``.

Launched op by op, an iteration is ~20 torch calls plus a device sync for the convergence check, and
each call gives up the GIL and must take it back from DuckDB's other threads: a 512-text summarize
call spent ~0.6 s in k-means on an H200, almost all of it waiting for the GIL (benchmarks/NOTES.md,
lever 36). On CUDA (unless ``SQLML_CUDA_GRAPHS=0``) :data:`BLOCK_ITERATIONS` iterations are captured
as one CUDA graph per padded shape and replayed, with one sync per block. A block that runs past the
fixed point changes nothing (the same labels give the same centers, bit for bit), so the labels are
those of the op-by-op loop; iterations left over when ``max_iter`` is not a multiple of the block run
op by op.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from sqlml import config

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Lloyd iterations per captured graph (one device sync per block).
BLOCK_ITERATIONS = 8
#: Padded set counts are multiples of this, padded widths multiples of :data:`WIDTH_STEP`: few shapes.
SETS_STEP = 64
WIDTH_STEP = 8
#: Captured graphs kept per device (each holds its padded inputs); the least recently used idle ones go first.
MAX_GRAPHS = 64


def lloyd(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, device: str, max_iter: int) -> np.ndarray:
    """Labels ``int64 (sets, width)`` (entries past ``sizes`` are junk) of the Lloyd iterations that start
    from ``centers`` (``float64 (sets, max(ks), dim)``) on ``points`` (``float64 (sets, width, dim)``)."""
    if device.startswith("cuda") and config.resolve("cuda_graphs", None, True, config.parse_bool):
        labels = _graphs(device).run(points, centers, sizes, ks, max_iter)
        if labels is not None:
            return labels
    return _lloyd_eager(points, centers, sizes, ks, device, max_iter)


def _lloyd_eager(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, device: str, max_iter: int) -> np.ndarray:
    """:func:`lloyd` op by op (on CUDA in a stream of its own, so the per-iteration check does not wait
    for the embedding batches queued on the device)."""
    with _side_stream(device):
        problem = _Problem.on_device(points, centers, sizes, ks, device)
        labels = problem.iterate(max_iter)
        return labels.cpu().numpy()


@dataclass
class _Problem:
    """The device tensors of one padded batch of k-means problems."""

    x: torch.Tensor  # float64 (sets, width, dim)
    centers: torch.Tensor  # float64 (sets, k, dim)
    valid: torch.Tensor  # bool (sets, width): real points
    k_invalid: torch.Tensor  # bool (sets, 1, k): padded centers, never nearest

    @classmethod
    def on_device(cls, points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, device: str) -> _Problem:
        import torch

        valid, k_invalid = _masks(sizes, ks, points.shape[1], centers.shape[1])
        return cls(*(torch.from_numpy(a).to(device) for a in (points, centers, valid, k_invalid)))

    def iterate(self, iterations: int) -> torch.Tensor:
        """Up to ``iterations`` Lloyd steps from ``self.centers``, stopping at the fixed point (a device
        sync per step); updates ``self.centers``; returns the labels ``int64 (sets, width)``."""
        squares = (self.x * self.x).sum(-1, keepdim=True)
        labels = _assign(self.x, squares, self.centers, self.k_invalid)
        for _ in range(iterations):
            labels, changed = self.step(squares, labels)
            if not bool(changed):
                break
        return labels

    def step(self, squares: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One Lloyd step: centers to the means of their points (a center without points stays), then
        the new labels and whether any real point's label changed (a device bool)."""
        import torch

        one_hot = torch.nn.functional.one_hot(labels, self.centers.shape[1]).to(self.x.dtype) * self.valid[:, :, None]
        counts = one_hot.sum(dim=1)
        sums = one_hot.transpose(1, 2) @ self.x
        self.centers = torch.where(counts[:, :, None] > 0, sums / counts.clamp(min=1)[:, :, None], self.centers)
        new = _assign(self.x, squares, self.centers, self.k_invalid)
        return new, ((new != labels) & self.valid).any()


def _masks(sizes: np.ndarray, ks: np.ndarray, width: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(valid bool (sets, width), k_invalid bool (sets, 1, k))`` for sets of ``sizes`` points and ``ks`` centers."""
    return np.arange(width)[None, :] < sizes[:, None], (np.arange(k)[None, :] >= ks[:, None])[:, None, :]


def _assign(x: torch.Tensor, squares: torch.Tensor, c: torch.Tensor, k_invalid: torch.Tensor) -> torch.Tensor:
    """Nearest center per point: ``argmin ||x - c||^2`` (lowest index on ties); padded centers never win.

    ``squares``: ``(x * x).sum(-1, keepdim=True)``, the same in every iteration; ``k_invalid``: padded centers.
    """
    import torch

    dist = squares - 2 * (x @ c.transpose(1, 2)) + (c * c).sum(-1)[:, None, :]
    dist = dist.masked_fill(k_invalid, torch.inf)
    return dist.argmin(dim=-1)


def _side_stream(device: str) -> object:
    """On CUDA, a new stream for this call; else a no-op context."""
    from contextlib import nullcontext

    if not device.startswith("cuda"):
        return nullcontext()
    import torch

    return torch.cuda.stream(torch.cuda.Stream(device))


@dataclass
class _Block:
    """One captured graph: :data:`BLOCK_ITERATIONS` Lloyd steps on a padded shape, from ``problem.centers``
    (its static input, updated in place) to ``labels``; ``changed``: the last step moved a label."""

    graph: torch.cuda.CUDAGraph
    stream: torch.cuda.Stream
    problem: _Problem
    labels: torch.Tensor
    changed: torch.Tensor

    def replay(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the block on its stream (the current one): ``(labels, changed)``, valid until the next replay."""
        self.graph.replay()
        return self.labels, self.changed


class _DeviceGraphs:
    """Captured Lloyd blocks of one device, keyed by padded shape ``(sets, width, k, dim)``.

    A thread takes an idle block of its shape (capturing a new one when none is idle), so threads
    clustering at once never share one; at most :data:`MAX_GRAPHS` are kept. A capture that fails turns
    graphs off for the device (a warning says why) and the op-by-op loop runs instead.
    """

    def __init__(self, device: str) -> None:
        self._device = device
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[int, ...], list[_Block]] = OrderedDict()
        self._count = 0
        self.disabled_because: str | None = None

    def run(self, points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, max_iter: int) -> np.ndarray | None:
        """:func:`lloyd` with graphs; ``None`` when they are off on this device."""
        import torch

        sets, width, dim = points.shape
        shape = (-(-sets // SETS_STEP) * SETS_STEP, -(-width // WIDTH_STEP) * WIDTH_STEP, centers.shape[1], dim)
        block = self._take(shape)
        if block is None:
            return None
        try:
            with torch.cuda.stream(block.stream):
                _fill(block.problem, points, centers, sizes, ks)
                return _iterate_in_blocks(block.replay, block.problem, max_iter)[:sets, :width].cpu().numpy()
        finally:
            self._give_back(shape, block)

    def _take(self, shape: tuple[int, ...]) -> _Block | None:
        with self._lock:
            if self.disabled_because is not None:
                return None
            idle = self._idle.get(shape)
            if idle:
                self._idle.move_to_end(shape)
                return idle.pop()
        block = self._capture(shape)
        if block is not None:
            with self._lock:
                self._count += 1
        return block

    def _give_back(self, shape: tuple[int, ...], block: _Block) -> None:
        with self._lock:
            self._idle.setdefault(shape, []).append(block)
            self._idle.move_to_end(shape)
            while self._count > MAX_GRAPHS and any(self._idle.values()):
                oldest = next(key for key, blocks in self._idle.items() if blocks)
                self._idle[oldest].pop()
                self._count -= 1

    def _capture(self, shape: tuple[int, ...]) -> _Block | None:
        import torch

        sets, width, k, dim = shape
        stream = torch.cuda.Stream(self._device)
        try:
            with torch.cuda.stream(stream):
                problem = _Problem(
                    torch.zeros(sets, width, dim, dtype=torch.float64, device=self._device),
                    torch.zeros(sets, k, dim, dtype=torch.float64, device=self._device),
                    torch.zeros(sets, width, dtype=torch.bool, device=self._device),
                    torch.zeros(sets, 1, k, dtype=torch.bool, device=self._device),
                )
                _block_steps(problem)  # warm-up outside the graph (cuBLAS handle and workspace), as torch requires
                graph = torch.cuda.CUDAGraph()
                # thread_local: other threads' work on other streams (the model, other captures) may go on.
                graph.capture_begin(capture_error_mode="thread_local")
                try:
                    labels, changed = _block_steps(problem)
                finally:
                    graph.capture_end()
        except Exception as exc:  # noqa: BLE001 - any failure means: cluster on this device op by op
            with self._lock:
                self.disabled_because = f"{type(exc).__name__}: {exc}"
            log.warning("sqlml: k-means runs without CUDA graphs on %s (capture failed: %s)", self._device, self.disabled_because)
            return None
        return _Block(graph, stream, problem, labels, changed)


def _fill(problem: _Problem, points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray) -> None:
    """Copy one call's problems (:func:`lloyd`'s arguments) into the leading sets and points of a larger
    padded ``problem``. What stays from an earlier call (finite values) is masked: the extra sets and
    points are not real, and every center of an extra set is."""
    import torch

    sets, width, _ = points.shape
    padded_sizes, padded_ks = np.zeros(len(problem.x), dtype=np.int64), np.full(len(problem.x), problem.centers.shape[1])
    padded_sizes[:sets], padded_ks[:sets] = sizes, ks
    valid, k_invalid = _masks(padded_sizes, padded_ks, problem.x.shape[1], problem.centers.shape[1])
    problem.x[:sets, :width].copy_(torch.from_numpy(points))
    problem.centers[:sets].copy_(torch.from_numpy(centers))
    problem.valid.copy_(torch.from_numpy(valid))
    problem.k_invalid.copy_(torch.from_numpy(k_invalid))


def _iterate_in_blocks(block: Callable[[], tuple[torch.Tensor, torch.Tensor]], problem: _Problem, max_iter: int) -> torch.Tensor:
    """:meth:`_Problem.iterate` as ``block()`` calls of :data:`BLOCK_ITERATIONS` steps each
    (:func:`_block_steps` on ``problem``, or its graph), one sync per block; the iterations left over
    run op by op. The labels ``int64 (sets, width)``."""
    for _ in range(max_iter // BLOCK_ITERATIONS):
        labels, changed = block()
        if not bool(changed):
            return labels
    return replace(problem, centers=problem.centers.clone()).iterate(max_iter % BLOCK_ITERATIONS)  # the block's centers stay its input


def _block_steps(problem: _Problem) -> tuple[torch.Tensor, torch.Tensor]:
    """:data:`BLOCK_ITERATIONS` Lloyd steps from ``problem.centers``, whose tensor gets the centers
    after them: ``(labels, changed in the last step)``. The labels are first recomputed from the
    centers: at the end of a block they are exactly those centers' labels, so blocks chain like the
    op-by-op loop's steps."""
    work = replace(problem)
    squares = (work.x * work.x).sum(-1, keepdim=True)
    labels = _assign(work.x, squares, work.centers, work.k_invalid)
    for _ in range(BLOCK_ITERATIONS):
        labels, changed = work.step(squares, labels)
    problem.centers.copy_(work.centers)
    return labels, changed


_DEVICES: dict[str, _DeviceGraphs] = {}
_DEVICES_LOCK = threading.Lock()


def _graphs(device: str) -> _DeviceGraphs:
    with _DEVICES_LOCK:
        if device not in _DEVICES:
            _DEVICES[device] = _DeviceGraphs(device)
        return _DEVICES[device]
