"""Batched k-means: same labels as scikit-learn per set, deterministic, independent of the batch."""

from __future__ import annotations

import numpy as np

from sqlml.ops.summarize import kmeans
from sqlml.ops.summarize.kmeans import init_centers, init_centers_padded, kmeans_batched
from tests.support.kmeans_reference import kmeans_sklearn


def unit_sets(count: int, seed: int, dim: int = 16) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    sets, ks = [], []
    for _ in range(count):
        m = int(rng.integers(1, 40))
        x = rng.normal(size=(m, dim))
        sets.append(x / np.linalg.norm(x, axis=1, keepdims=True))
        ks.append(int(rng.integers(1, m + 1)))
    return sets, ks


def test_batched_equals_scikit_learn_on_cpu() -> None:
    sets, ks = unit_sets(25, seed=3)
    batched = kmeans_batched(sets, ks, seed=0)
    for x, k, labels in zip(sets, ks, batched, strict=True):
        np.testing.assert_array_equal(labels, kmeans_sklearn(x, k, seed=0))


def test_deterministic_and_independent_of_the_other_sets(monkeypatch) -> None:
    sets, ks = unit_sets(20, seed=5)
    first = kmeans_batched(sets, ks, seed=0)
    again = kmeans_batched(sets, ks, seed=0)
    alone = [kmeans_batched([x], [k], seed=0)[0] for x, k in zip(sets, ks, strict=True)]
    monkeypatch.setattr(kmeans, "STEP_ELEMENTS", 64)  # many small steps instead of one
    stepped = kmeans_batched(sets, ks, seed=0)
    for a, b, c, d in zip(first, again, alone, stepped, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, d)


def test_every_cluster_is_used_when_points_are_distinct() -> None:
    sets, ks = unit_sets(30, seed=7)
    for labels, k in zip(kmeans_batched(sets, ks), ks, strict=True):
        assert sorted(set(labels.tolist())) == list(range(k))


def test_init_centers_are_distinct_points_of_the_set() -> None:
    x = np.eye(5)
    centers = init_centers(x, 5, seed=0)
    assert sorted(map(tuple, centers.tolist())) == sorted(map(tuple, x.tolist()))


def one_set_init_centers(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The greedy k-means++ start written for one set, one step at a time: the reference for the batched one.

    Sums over points run in order (``cumsum``), as the batched version's do.
    """
    data = np.asarray(points, dtype=np.float64)
    rng = np.random.default_rng(seed)
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(len(data)))]
    nearest = ((data - data[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = np.cumsum(nearest)[-1]
        if total <= 0:
            chosen.append(next(i for i in range(len(data)) if i not in chosen))
            continue
        candidates = np.searchsorted(np.cumsum(nearest), rng.random(trials) * total).clip(max=len(data) - 1)
        dists = ((data[None, :, :] - data[candidates][:, None, :]) ** 2).sum(axis=2)
        potentials = np.minimum(nearest[None, :], dists)
        best = int(np.cumsum(potentials, axis=1)[:, -1].argmin())
        chosen.append(int(candidates[best]))
        nearest = potentials[best]
    return data[chosen].copy()


def test_padded_init_equals_one_set_at_a_time(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    for dim, width in [(2, 1), (3, 2), (16, 9), (32, 17), (384, 25), (8, 130)]:
        x = rng.normal(size=(8, width, dim))
        sizes = rng.integers(1, width + 1, size=len(x))
        sizes[0] = width
        if width > 3:
            x[1, 1] = x[1, 0]  # a repeated point
            x[2, : width // 2] = x[2, 0]  # few distinct points: the total distance reaches 0 before k centers
            sizes[1:3] = width
        ks = np.array([rng.integers(1, m + 1) for m in sizes])
        ks[0] = width
        for step in (1 << 22, 1):  # one step for all sets, or one set per step
            monkeypatch.setattr(kmeans, "INIT_ELEMENTS", step)
            padded = init_centers_padded(x, sizes, ks, seed=3)
            assert padded.shape == (len(x), ks.max(), dim)
            for g, (m, k) in enumerate(zip(sizes, ks, strict=True)):
                np.testing.assert_array_equal(padded[g, :k], one_set_init_centers(x[g, :m], k, seed=3))
                np.testing.assert_array_equal(init_centers(x[g, :m], k, seed=3), padded[g, :k])
                assert not padded[g, k:].any()


def test_large_set_and_empty_call() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(size=(3000, 8))
    labels = kmeans_batched([big, big[:5]], [10, 2])
    assert labels[0].shape == (3000,) and set(labels[0].tolist()) == set(range(10))
    assert kmeans_batched([], []) == []
