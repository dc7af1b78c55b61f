"""k-means of a call's point sets on CUDA as captured graphs: the k-means++ start and blocks of Lloyd steps.

Op by op, a 512-text summarize call made ~100 numpy calls for the k-means++ start and ~20 torch calls
per Lloyd step, and each gives up the GIL and must take it back from DuckDB's other threads, so such a
call spends most of its k-means time waiting for the GIL.
Here one graph per padded shape scatters the sets' float32 points into a zero-padded float64 tensor and
runs the k-means++ start (:func:`plus_plus`, the algorithm of :func:`sqlml.ops.summarize.kmeans.init_centers_padded`
with the same random numbers), and another runs :data:`~sqlml.engine.cuda.lloyd.BLOCK_ITERATIONS` Lloyd steps
(:func:`~sqlml.engine.cuda.lloyd.block_steps`), replayed until the labels stop changing: about ten host calls per
call in all.

The labels are those of the op-by-op path up to float rounding: sums over points run in the device's
order, not strictly left to right, so a k-means++ candidate that wins by less than the rounding could
differ (never seen: the GPU test compares with the CPU labels). Used on CUDA unless
``SQLML_CUDA_GRAPHS=0``; a capture that fails turns the graphs off for that device with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from sqlml import config
from sqlml.engine.cuda.lloyd import Problem, block_steps, iterate_in_blocks

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Padded set counts are multiples of this, padded widths multiples of :data:`WIDTH_STEP`: few shapes.
SETS_STEP = 64
WIDTH_STEP = 8
#: Captured graph pairs kept per device (each holds its padded inputs); the least recently used idle ones go first.
MAX_GRAPHS = 64


def enabled(device: str) -> bool:
    """Whether :func:`cluster` may run on ``device``: CUDA, and ``SQLML_CUDA_GRAPHS`` not off."""
    return device.startswith("cuda") and config.resolve("cuda_graphs", None, True, config.parse_bool)


def cluster(
    sets: Sequence[np.ndarray],
    sizes: np.ndarray,
    ks: np.ndarray,
    numbers: tuple[np.ndarray, np.ndarray, np.ndarray],
    device: str,
    max_iter: int,
) -> np.ndarray | None:
    """Labels ``int64 (sum(sizes),)`` of ``sets`` (``float (sizes[i], dim)`` each, ``ks[i]`` clusters),
    one set after another, from the k-means++ start with ``numbers`` (:func:`sqlml.ops.summarize.kmeans.start_numbers`).
    ``None`` when graphs are off on ``device`` (a capture failed): cluster op by op instead."""
    return _graphs(device).run(sets, sizes, ks, numbers, max_iter)


@dataclass
class Start:
    """The static inputs of one padded shape ``(sets, width, k, dim)`` and the problem they fill."""

    points: torch.Tensor  # float32 (sets * width, dim): the call's points one after another, then junk
    slots: torch.Tensor  # int64 (sets * width,): each point's place in problem.x; sets * width for junk rows
    counts: torch.Tensor  # int64 (4, sets): sizes, ks, trials, first (0, 1, 0, 0 for padded sets)
    draws: torch.Tensor  # float64 (sets, k - 1, trials): the k-means++ draws
    x: torch.Tensor  # float64 (sets * width + 1, dim): problem.x, then the junk row
    problem: Problem

    @classmethod
    def zeros(cls, sets: int, width: int, k: int, dim: int, device: str) -> Start:
        import torch

        x = torch.zeros(sets * width + 1, dim, dtype=torch.float64, device=device)
        problem = Problem(
            x[:-1].view(sets, width, dim),
            torch.zeros(sets, k, dim, dtype=torch.float64, device=device),
            torch.zeros(sets, width, dtype=torch.bool, device=device),
            torch.zeros(sets, 1, k, dtype=torch.bool, device=device),
        )
        return cls(
            torch.zeros(sets * width, dim, dtype=torch.float32, device=device),
            torch.full((sets * width,), sets * width, dtype=torch.int64, device=device),
            torch.zeros(4, sets, dtype=torch.int64, device=device),
            torch.zeros(sets, max(k - 1, 0), 2 + int(np.log(k)), dtype=torch.float64, device=device),
            x,
            problem,
        )

    def fill(self, sets: Sequence[np.ndarray], sizes: np.ndarray, ks: np.ndarray, numbers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Copy one call's sets (fewer than this shape holds) into the static inputs; return each point's slot."""
        import torch

        padded_sets, width, _ = self.problem.x.shape
        trials, first, draws = numbers
        count = len(sizes)
        slots = np.full(len(self.slots), padded_sets * width, dtype=np.int64)
        slots[: sizes.sum()] = np.repeat(np.arange(count) * width - (np.cumsum(sizes) - sizes), sizes) + np.arange(sizes.sum())
        counts = np.zeros((4, padded_sets), dtype=np.int64)
        counts[1] = 1
        counts[:, :count] = sizes, ks, trials, first
        self.points[: sizes.sum()].copy_(torch.from_numpy(np.concatenate(sets)))
        self.slots.copy_(torch.from_numpy(slots))
        self.counts.copy_(torch.from_numpy(counts))
        self.draws[:count, : draws.shape[1], : draws.shape[2]].copy_(torch.from_numpy(draws))
        return slots[: sizes.sum()]

    def run(self) -> None:
        """Scatter the points into ``problem.x`` (zeros elsewhere), set the masks and the starting centers."""
        import torch

        sizes, ks, trials, first = self.counts
        sets, width, _ = self.problem.x.shape
        self.x.zero_()
        self.x.index_copy_(0, self.slots, self.points.to(torch.float64))
        self.problem.valid.copy_(torch.arange(width, device=sizes.device)[None, :] < sizes[:, None])
        k = self.problem.centers.shape[1]
        self.problem.k_invalid.copy_((torch.arange(k, device=sizes.device)[None, :] >= ks[:, None])[:, None, :])
        chosen = plus_plus(self.problem.x, self.problem.valid, sizes, ks, trials, first, self.draws)
        centers = self.problem.x.gather(1, chosen[:, :, None].expand(-1, -1, self.problem.x.shape[2]))
        self.problem.centers.copy_(centers.masked_fill(self.problem.k_invalid.transpose(1, 2), 0.0))


def plus_plus(
    x: torch.Tensor, valid: torch.Tensor, sizes: torch.Tensor, ks: torch.Tensor, trials: torch.Tensor, first: torch.Tensor, draws: torch.Tensor
) -> torch.Tensor:
    """Indices ``int64 (sets, k)`` of the k-means++ centers of each set of ``x`` (``float64 (sets, width,
    dim)``, real points ``valid``): :func:`sqlml.ops.summarize.kmeans._kmeans_plus_plus` in torch, step for step, with
    no host sync. Per set: ``sizes`` points, ``ks`` centers, ``trials`` candidates per step, the ``first``
    index and the ``draws`` (``(sets, k - 1, trials)``). Indices past ``ks`` are junk."""
    import torch

    sets, width, _ = x.shape
    rows = torch.arange(sets, device=x.device)
    squares = (x * x).sum(-1)
    used = ~valid | (torch.arange(width, device=x.device)[None, :] == first[:, None])
    nearest = _squared_distances(x, squares, x[rows, first][:, None], squares[rows, first][:, None])[:, 0].masked_fill(~valid, 0.0)
    no_trial = torch.arange(draws.shape[2], device=x.device)[None, :] >= trials[:, None]
    chosen = [first]
    for step in range(1, draws.shape[1] + 1):
        running = nearest.cumsum(dim=1)
        total = running[:, -1]
        stuck = total <= 0  # fewer distinct points than k: callers prevent this
        targets = draws[:, step - 1] * total[:, None]
        candidates = torch.minimum((running[:, None, :] < targets[:, :, None]).sum(dim=2), (sizes[:, None] - 1).clamp(min=0))
        dists = _squared_distances(x, squares, x[rows[:, None], candidates], squares[rows[:, None], candidates])
        potentials = torch.minimum(nearest[:, None, :], dists)
        best = potentials.sum(dim=2).masked_fill(no_trial, torch.inf).argmin(dim=1)
        pick = torch.where(stuck, used.to(torch.uint8).argmin(dim=1), candidates[rows, best])
        active = step < ks
        nearest = torch.where((active & ~stuck)[:, None], potentials[rows, best], nearest)
        chosen.append(pick)
        used = used | ((torch.arange(width, device=x.device)[None, :] == pick[:, None]) & active[:, None])
    return torch.stack(chosen, dim=1)


def _squared_distances(points: torch.Tensor, squares: torch.Tensor, centers: torch.Tensor, center_squares: torch.Tensor) -> torch.Tensor:
    """``float64 (sets, c, width)``: :func:`sqlml.ops.summarize.kmeans._squared_distances` in torch."""
    return (center_squares[:, :, None] + squares[:, None, :] - 2.0 * (centers @ points.transpose(1, 2))).clamp(min=0.0)


@dataclass
class _Graphs:
    """One padded shape's captured start and Lloyd block, and the stream they replay on."""

    start: Start
    start_graph: torch.cuda.CUDAGraph
    block_graph: torch.cuda.CUDAGraph
    labels: torch.Tensor
    changed: torch.Tensor
    stream: torch.cuda.Stream

    def replay_block(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One block of Lloyd steps: ``(labels, changed)``, valid until the next replay."""
        self.block_graph.replay()
        return self.labels, self.changed


class _DeviceGraphs:
    """Captured graphs of one device, keyed by padded shape ``(sets, width, k, dim)``.

    A thread takes an idle pair of its shape (capturing a new one when none is idle), so threads
    clustering at once never share one; at most :data:`MAX_GRAPHS` are kept. A capture that fails turns
    graphs off for the device (a warning says why).
    """

    def __init__(self, device: str) -> None:
        self._device = device
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[int, ...], list[_Graphs]] = OrderedDict()
        self._count = 0
        self.disabled_because: str | None = None

    def run(self, sets: Sequence[np.ndarray], sizes: np.ndarray, ks: np.ndarray, numbers: tuple[np.ndarray, np.ndarray, np.ndarray], max_iter: int) -> np.ndarray | None:
        import torch

        shape = (-(-len(sets) // SETS_STEP) * SETS_STEP, -(-int(sizes.max()) // WIDTH_STEP) * WIDTH_STEP, int(ks.max()), sets[0].shape[1])
        graphs = self._take(shape)
        if graphs is None:
            return None
        try:
            with torch.cuda.stream(graphs.stream):
                slots = graphs.start.fill(sets, sizes, ks, numbers)
                graphs.start_graph.replay()
                labels = iterate_in_blocks(graphs.replay_block, graphs.start.problem, max_iter)
                return labels.cpu().numpy().reshape(-1)[slots]
        finally:
            self._give_back(shape, graphs)

    def _take(self, shape: tuple[int, ...]) -> _Graphs | None:
        with self._lock:
            if self.disabled_because is not None:
                return None
            idle = self._idle.get(shape)
            if idle:
                self._idle.move_to_end(shape)
                return idle.pop()
        graphs = self._capture(shape)
        if graphs is not None:
            with self._lock:
                self._count += 1
        return graphs

    def _give_back(self, shape: tuple[int, ...], graphs: _Graphs) -> None:
        with self._lock:
            self._idle.setdefault(shape, []).append(graphs)
            self._idle.move_to_end(shape)
            while self._count > MAX_GRAPHS and any(self._idle.values()):
                oldest = next(key for key, idle in self._idle.items() if idle)
                self._idle[oldest].pop()
                self._count -= 1

    def _capture(self, shape: tuple[int, ...]) -> _Graphs | None:
        import torch

        stream = torch.cuda.Stream(self._device)
        try:
            with torch.cuda.stream(stream):
                start = Start.zeros(*shape, self._device)
                start.run()  # warm-up outside the graphs (cuBLAS handle and workspace), as torch requires
                block_steps(start.problem)
                start_graph, _ = _captured(start.run)
                block_graph, (labels, changed) = _captured(lambda: block_steps(start.problem))
        except Exception as exc:  # noqa: BLE001 - any failure means: cluster on this device op by op
            with self._lock:
                self.disabled_because = f"{type(exc).__name__}: {exc}"
            log.warning("sqlml: k-means runs without CUDA graphs on %s (capture failed: %s)", self._device, self.disabled_because)
            return None
        return _Graphs(start, start_graph, block_graph, labels, changed, stream)


def _captured(body: Callable[[], T]) -> tuple[torch.cuda.CUDAGraph, T]:
    """``body()`` captured as a graph on the current stream, and what it returned (tensors in the graph's
    memory, rewritten by each replay). ``thread_local``: other threads' work on other streams (the
    model's, other captures) may go on meanwhile."""
    import torch

    graph = torch.cuda.CUDAGraph()
    graph.capture_begin(capture_error_mode="thread_local")
    try:
        result = body()
    finally:
        graph.capture_end()
    return graph, result


_DEVICES: dict[str, _DeviceGraphs] = {}
_DEVICES_LOCK = threading.Lock()


def _graphs(device: str) -> _DeviceGraphs:
    with _DEVICES_LOCK:
        if device not in _DEVICES:
            _DEVICES[device] = _DeviceGraphs(device)
        return _DEVICES[device]
