"""Lloyd iterations in blocks (the CUDA graph path's logic, run here op by op on CPU) give the labels
of the plain loop, also in a larger padded problem holding an earlier call's values."""

from __future__ import annotations

import numpy as np
import pytest

from sqlml.ops import lloyd
from sqlml.ops.kmeans import init_centers_padded


def padded_sets(count: int, seed: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(points, centers, sizes, ks)`` of ``count`` random sets, zero-padded, with k-means++ starts."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 50, size=count)
    ks = np.minimum(rng.integers(2, 7, size=count), sizes)
    points = np.zeros((count, int(sizes.max()), dim))
    for i, m in enumerate(sizes):
        points[i, :m] = rng.normal(size=(m, dim))
    return points, init_centers_padded(points, sizes, ks, seed=0), sizes, ks


def blocked_labels(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, ks: np.ndarray, max_iter: int) -> np.ndarray:
    """What the graph path computes, with :func:`lloyd._block_steps` run op by op instead of replayed,
    in a problem of 64 more sets and 5 more points filled with junk first (an earlier call's values)."""
    import torch

    sets, width, dim = points.shape
    k = centers.shape[1]
    rng = np.random.default_rng(1)
    problem = lloyd._Problem(
        torch.from_numpy(rng.normal(size=(sets + 64, width + 5, dim))),
        torch.from_numpy(rng.normal(size=(sets + 64, k, dim))),
        torch.ones(sets + 64, width + 5, dtype=torch.bool),
        torch.zeros(sets + 64, 1, k, dtype=torch.bool),
    )
    lloyd._fill(problem, points, centers, sizes, ks)
    labels = lloyd._iterate_in_blocks(lambda: lloyd._block_steps(problem), problem, max_iter)
    return labels[:sets, :width].numpy()


@pytest.mark.parametrize("max_iter", [300, 1, 5, 8, 11, 16])
def test_blocks_give_the_labels_of_the_plain_loop(max_iter: int) -> None:
    points, centers, sizes, ks = padded_sets(120, seed=0)
    plain = lloyd._lloyd_eager(points, centers, sizes, ks, "cpu", max_iter)
    blocked = blocked_labels(points, centers, sizes, ks, max_iter)
    real = np.arange(points.shape[1])[None, :] < sizes[:, None]
    np.testing.assert_array_equal(blocked[real], plain[real])


def test_the_plain_loop_needs_more_than_one_block_here() -> None:
    """The data above exercise chained blocks: some sets are still moving after one block."""
    points, centers, sizes, ks = padded_sets(120, seed=0)
    one_block = lloyd._lloyd_eager(points, centers, sizes, ks, "cpu", lloyd.BLOCK_ITERATIONS)
    converged = lloyd._lloyd_eager(points, centers, sizes, ks, "cpu", 300)
    real = np.arange(points.shape[1])[None, :] < sizes[:, None]
    assert (one_block[real] != converged[real]).any()


def test_cpu_runs_the_plain_loop_whatever_the_graph_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    points, centers, sizes, ks = padded_sets(10, seed=2)
    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "1")
    np.testing.assert_array_equal(lloyd.lloyd(points, centers, sizes, ks, "cpu", 300), lloyd._lloyd_eager(points, centers, sizes, ks, "cpu", 300))
    assert not lloyd._DEVICES
