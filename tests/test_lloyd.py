"""Lloyd iterations in blocks and the CUDA graph path's bodies (run here op by op on CPU) give the labels
of the plain loop and of the CPU k-means, also in a larger padded shape holding an earlier call's values."""

from __future__ import annotations

import numpy as np
import pytest

from sqlml.engine.cuda import lloyd
from sqlml.ops.summarize.kmeans import init_centers_padded


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
    """Lloyd in blocks of :data:`lloyd.BLOCK_ITERATIONS` steps (the graph path's loop), op by op on CPU."""
    problem = lloyd.Problem.on_device(points, centers, sizes, ks, "cpu")
    return lloyd.iterate_in_blocks(lambda: lloyd.block_steps(problem), problem, max_iter).numpy()


@pytest.mark.parametrize("max_iter", [300, 1, 5, 8, 11, 16])
def test_blocks_give_the_labels_of_the_plain_loop(max_iter: int) -> None:
    points, centers, sizes, ks = padded_sets(120, seed=0)
    plain = lloyd.lloyd(points, centers, sizes, ks, "cpu", max_iter)
    blocked = blocked_labels(points, centers, sizes, ks, max_iter)
    real = np.arange(points.shape[1])[None, :] < sizes[:, None]
    np.testing.assert_array_equal(blocked[real], plain[real])


def test_the_plain_loop_needs_more_than_one_block_here() -> None:
    """The data above exercise chained blocks: some sets are still moving after one block."""
    points, centers, sizes, ks = padded_sets(120, seed=0)
    one_block = lloyd.lloyd(points, centers, sizes, ks, "cpu", lloyd.BLOCK_ITERATIONS)
    converged = lloyd.lloyd(points, centers, sizes, ks, "cpu", 300)
    real = np.arange(points.shape[1])[None, :] < sizes[:, None]
    assert (one_block[real] != converged[real]).any()


def test_graphs_only_on_cuda_and_not_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlml.engine.cuda import kmeans_graphs

    assert kmeans_graphs.enabled("cuda:0") and not kmeans_graphs.enabled("cpu")
    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "0")
    assert not kmeans_graphs.enabled("cuda:0")


def graph_path_labels(sets: list[np.ndarray], ks: list[int], max_iter: int = 300) -> list[np.ndarray]:
    """What the CUDA graph path computes, its two graph bodies run op by op on CPU, in a padded shape
    that holds an earlier call's values first."""
    from sqlml.engine.cuda import kmeans_graphs
    from sqlml.ops.summarize.kmeans import start_numbers

    sizes, counts = np.array([len(s) for s in sets]), np.array(ks)
    start = kmeans_graphs.Start.zeros(len(sets) + 70, int(sizes.max()) + 3, int(counts.max()), sets[0].shape[1], "cpu")
    earlier = [np.random.default_rng(9).normal(size=(len(start.problem.x[0]), sets[0].shape[1])).astype(np.float32)] * (len(sets) + 70)
    earlier_sizes = np.full(len(earlier), len(earlier[0]))
    earlier_ks = np.full(len(earlier), int(counts.max()))
    start.fill(earlier, earlier_sizes, earlier_ks, start_numbers(earlier_sizes, earlier_ks, 0))
    slots = start.fill(sets, sizes, counts, start_numbers(sizes, counts, 0))
    start.run()
    labels = lloyd.iterate_in_blocks(lambda: lloyd.block_steps(start.problem), start.problem, max_iter).numpy().reshape(-1)[slots]
    return np.split(labels, np.cumsum(sizes)[:-1])


@pytest.mark.parametrize("max_iter", [300, 3, 11])
def test_graph_path_bodies_give_the_cpu_labels(max_iter: int) -> None:
    from sqlml.ops.summarize.kmeans import kmeans_batched

    rng = np.random.default_rng(4)
    sets = [rng.normal(size=(int(m), 2)).astype(np.float32) for m in rng.integers(1, 45, size=150)]
    ks = [int(min(k, len(s))) for k, s in zip(rng.integers(1, 7, size=150), sets, strict=True)]
    expected = kmeans_batched(sets, ks, seed=0, device="cpu", max_iter=max_iter)
    for a, b in zip(expected, graph_path_labels(sets, ks, max_iter), strict=True):
        np.testing.assert_array_equal(a, b)
