"""Lloyd iterations of many zero-padded k-means problems at once, in torch (float64).

The problems of one call are padded into ``x`` (``float64 (sets, width, dim)``, point ``j`` of set ``i``
real when ``j < sizes[i]``) with starting centers ``(sets, k, dim)`` (set ``i`` uses its first ``ks[i]``).
Each step moves every center to the mean of its points (a center without points stays) and assigns each
point to its nearest center (the lowest index on a tie), until no label changes or ``max_iter`` steps.

:func:`lloyd` runs the steps op by op, with a device sync per step for the convergence check.
:func:`block_steps` is :data:`BLOCK_ITERATIONS` steps without a sync, the body of the CUDA graphs of
:mod:`sqlml.engine.cuda.kmeans_graphs`; :func:`iterate_in_blocks` chains such blocks. A block that runs past the
fixed point changes nothing (the same labels give the same centers, bit for bit), so blocks give the
labels of the op-by-op loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: Lloyd steps per block (one device sync per block).
BLOCK_ITERATIONS = 8


def lloyd(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, device: str, max_iter: int) -> np.ndarray:
    """Labels ``int64 (sets, width)`` (entries past ``sizes`` are junk) of the Lloyd iterations that start
    from ``centers`` (``float64 (sets, max(ks), dim)``) on ``points`` (``float64 (sets, width, dim)``),
    op by op (on CUDA in a stream of its own, so the per-iteration check does not wait for the embedding
    batches queued on the device)."""
    with _side_stream(device):
        problem = Problem.on_device(points, centers, sizes, ks, device)
        return problem.iterate(max_iter).cpu().numpy()


@dataclass
class Problem:
    """The device tensors of one padded batch of k-means problems."""

    x: torch.Tensor  # float64 (sets, width, dim)
    centers: torch.Tensor  # float64 (sets, k, dim)
    valid: torch.Tensor  # bool (sets, width): real points
    k_invalid: torch.Tensor  # bool (sets, 1, k): padded centers, never nearest

    @classmethod
    def on_device(cls, points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, device: str) -> Problem:
        import torch

        valid, k_invalid = masks(sizes, ks, points.shape[1], centers.shape[1])
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


def masks(sizes: np.ndarray, ks: np.ndarray, width: int, k: int) -> tuple[np.ndarray, np.ndarray]:
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


def iterate_in_blocks(block: Callable[[], tuple[torch.Tensor, torch.Tensor]], problem: Problem, max_iter: int) -> torch.Tensor:
    """:meth:`Problem.iterate` as ``block()`` calls of :data:`BLOCK_ITERATIONS` steps each
    (:func:`block_steps` on ``problem``, or its graph), one sync per block; the iterations left over
    run op by op. The labels ``int64 (sets, width)``."""
    for _ in range(max_iter // BLOCK_ITERATIONS):
        labels, changed = block()
        if not bool(changed):
            return labels
    return replace(problem, centers=problem.centers.clone()).iterate(max_iter % BLOCK_ITERATIONS)  # the block's centers stay its input


def block_steps(problem: Problem) -> tuple[torch.Tensor, torch.Tensor]:
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
