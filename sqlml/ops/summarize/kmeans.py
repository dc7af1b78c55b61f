"""k-means for many small point sets at once (one per article), deterministic for a fixed seed.

Both implementations run the same algorithm, so they give the same labels on CPU:

1. **Init**: greedy k-means++ (:func:`init_centers`, numpy, ``np.random.default_rng(seed)``) per point set;
   :func:`init_centers_padded` runs the sets of a call together (zero-padded), with the same result.
   The same seed gives the same centers on every run and machine.
2. **Lloyd iterations** in float64 until no label changes (``tol=0``) or ``max_iter``. A point is assigned
   to the nearest center; a tie goes to the lower cluster index (as in scikit-learn).

:func:`kmeans_batched` matches ``sklearn.cluster.KMeans`` from the same start (tests check it); it
pads all sets of a call into one ``(sets, points, dim)`` tensor and runs the Lloyd steps for all of them
together in torch (:mod:`sqlml.engine.cuda.lloyd`), on the GPU when one is given. The one known difference: when a cluster loses all its
points, scikit-learn moves its center to a far point, while the batched version keeps the old center.
Callers avoid this by never asking for more clusters than distinct points (k-means++ then starts from k
distinct points, each of which stays nearest to its own center in the first step).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from sqlml.engine.cuda import kmeans_graphs
from sqlml.engine.cuda.lloyd import lloyd

#: Lloyd iterations at most (scikit-learn's default); sentence sets converge in well under 30.
MAX_ITER = 300
#: Padded float64 elements per batched step (points x dim per set, summed over the sets of one step).
STEP_ELEMENTS = 1 << 24
#: Temporary float64 elements per step of the batched k-means++ start (sets x candidates x (points + dim)).
INIT_ELEMENTS = 1 << 22


def init_centers(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ start: ``float64 (k, dim)`` rows of ``points`` (``(m, dim)``, ``1 <= k <= m``).

    Greedy k-means++ as in scikit-learn (Arthur & Vassilvitskii 2007): each new center is the best of
    ``2 + log(k)`` candidates drawn with probability proportional to the squared distance to the
    nearest chosen center. A numpy version, because scikit-learn's input checks cost ~2 ms per call
    and a 2048-row call clusters 2048 sets. Sums over points run in order (``cumsum``), so zero padding
    (:func:`init_centers_padded`) cannot change their rounding.
    """
    data = np.asarray(points, dtype=np.float64)
    return init_centers_padded(data[None], np.array([len(data)]), np.array([k]), seed)[0, :k]


def init_centers_padded(points: np.ndarray, sizes: np.ndarray, ks: np.ndarray, seed: int) -> np.ndarray:
    """:func:`init_centers` of many sets at once: ``(sets, width, dim)`` → ``float64 (sets, max(ks), dim)``.

    Set ``i`` is ``points[i, :sizes[i]]`` (the rest is padding) and gets ``ks[i]`` centers (``1 <= ks[i]
    <= sizes[i]``), exactly those it gets alone: each set draws the random numbers its own generator
    (seeded with ``seed``) gives for its size and k, padded points weigh 0 and every sum over points
    runs in order. Rows ``ks[i]:`` of a set's centers are 0. All sets go through the same few numpy
    calls, cut into steps of about :data:`INIT_ELEMENTS` temporary elements: each numpy call on a large
    array gives up the GIL and must take it back from DuckDB's other threads, so the count of calls,
    not their size, sets the time (``docs/summarize.md``: two threads clustering 256 sets each beside
    three busy threads took 13.4 s with one start per set size and k, 4.4 s padded).
    """
    data = np.asarray(points, dtype=np.float64)
    sets, width, dim = data.shape
    sizes, ks = np.asarray(sizes, dtype=np.int64), np.asarray(ks, dtype=np.int64)
    k_max = int(ks.max()) if sets else 1
    trials, first, draws = start_numbers(sizes, ks, seed)
    step = max(1, INIT_ELEMENTS // (draws.shape[2] * (width + dim) + width))
    chosen = np.zeros((sets, k_max), dtype=np.int64)
    for i in range(0, sets, step):  # sets sorted by size (as kmeans_batched gives them) pad little per step
        part = slice(i, i + step)
        used_width = int(sizes[part].max())
        chosen[part] = _kmeans_plus_plus(data[part, :used_width], sizes[part], ks[part], trials[part], first[part], draws[part])
    centers = np.take_along_axis(data, chosen[:, :, None], axis=1)
    centers[np.arange(k_max)[None, :] >= ks[:, None]] = 0.0
    return centers


def start_numbers(sizes: np.ndarray, ks: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random numbers of the k-means++ starts of sets of ``sizes`` points and ``ks`` centers (``int64
    (sets,)``): ``(trials int64 (sets,), first int64 (sets,), draws float64 (sets, max(ks) - 1, max(trials)))``:
    candidates per step, the first center's index and each further center's uniform draws, as each set's
    own generator gives them (:func:`_random_numbers`; a set's numbers depend only on its size and k)."""
    sets, k_max = len(sizes), int(ks.max()) if len(ks) else 1
    trials = 2 + np.log(ks).astype(np.int64)
    draws = np.zeros((sets, max(k_max - 1, 0), int(trials.max()) if sets else 2))
    if not sets:
        return trials, np.zeros(0, dtype=np.int64), draws
    pairs, inverse = np.unique(sizes * (k_max + 1) + ks, return_inverse=True)  # one table row per (size, k), then one gather
    table_first, table_draws = np.zeros(len(pairs), dtype=np.int64), np.zeros((len(pairs), *draws.shape[1:]))
    for row, pair in enumerate(pairs.tolist()):
        table_first[row], numbers = _random_numbers(seed, pair // (k_max + 1), pair % (k_max + 1))
        table_draws[row, : numbers.shape[0], : numbers.shape[1]] = numbers
    return trials, table_first[inverse], table_draws[inverse]


@functools.lru_cache(maxsize=4096)
def _random_numbers(seed: int, size: int, k: int) -> tuple[int, np.ndarray]:
    """What a set of ``size`` points with ``k`` centers draws from its generator (seeded with ``seed``):
    the first center's index, then ``(k - 1, 2 + int(log k))`` uniform numbers, one row per further
    center. Cached: every call of a summarize job draws the same few dozen of these, and each draw from
    a numpy generator gives up the GIL."""
    rng = np.random.default_rng(seed)
    first = int(rng.integers(size))
    numbers = np.array([rng.random(2 + int(np.log(k))) for _ in range(k - 1)]).reshape(k - 1, 2 + int(np.log(k)))
    numbers.flags.writeable = False
    return first, numbers


def _kmeans_plus_plus(
    data: np.ndarray, sizes: np.ndarray, ks: np.ndarray, trials: np.ndarray, first: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    """Indices ``int64 (sets, max(ks))`` of the k-means++ centers of ``data`` (``(sets, width, dim)``).

    Per set: ``sizes`` real points, ``ks`` centers, ``trials`` candidates per step, the ``first`` index
    and ``draws`` (``(sets, k - 1, trials)``), the uniform numbers its generator gives after it. A set
    that runs out of distinct points (total distance 0) takes its first unused point; its total stays 0,
    so it never reads ``draws`` again (alone, it would draw nothing more). Indices past ``ks`` are junk.
    """
    sets, width, _ = data.shape
    rows = np.arange(sets)
    chosen = np.zeros((sets, draws.shape[1] + 1), dtype=np.int64)
    chosen[:, 0] = first
    padding = np.arange(width)[None, :] >= sizes[:, None]
    used = padding.copy()
    used[rows, first] = True
    squares = np.einsum("swd,swd->sw", data, data)
    nearest = np.where(padding, 0.0, _squared_distances(data, squares, data[rows, first][:, None], squares[rows, first][:, None])[:, 0])
    no_trial = np.arange(draws.shape[2])[None, :] >= trials[:, None]
    for step in range(1, draws.shape[1] + 1):
        running = np.cumsum(nearest, axis=1)
        total = running[:, -1]
        stuck = total <= 0  # fewer distinct points than k: callers prevent this
        targets = draws[:, step - 1] * total[:, None]
        candidates = np.minimum((running[:, None, :] < targets[:, :, None]).sum(axis=2), sizes[:, None] - 1)  # searchsorted, per set
        dists = _squared_distances(data, squares, data[rows[:, None], candidates], squares[rows[:, None], candidates])
        potentials = np.minimum(nearest[:, None, :], dists)
        best = np.where(no_trial, np.inf, np.cumsum(potentials, axis=2)[:, :, -1]).argmin(axis=1)
        pick = np.where(stuck, used.argmin(axis=1), candidates[rows, best])
        active = step < ks
        nearest = np.where((active & ~stuck)[:, None], potentials[rows, best], nearest)
        chosen[:, step] = pick
        used[rows[active], pick[active]] = True
    return chosen


def _squared_distances(points: np.ndarray, squares: np.ndarray, centers: np.ndarray, center_squares: np.ndarray) -> np.ndarray:
    """``float64 (sets, c, width)``: squared distance from each of a set's ``c`` centers (``(sets, c, dim)``,
    squared norms ``(sets, c)``) to each of its points (``(sets, width, dim)``, squared norms ``squares``).

    As ``|c|² + |x|² - 2 c·x`` (scikit-learn's form), clipped at 0: the temporaries are ``(sets, c, width)``
    instead of ``(sets, c, width, dim)``, so one step covers a whole call's sets and the k-means++ start
    makes ~10x fewer numpy calls, each of which gives up the GIL. Each entry is its
    own sum over ``dim`` (einsum, no BLAS), so padding a set cannot change it.
    """
    dots = np.einsum("scd,swd->scw", centers, points)
    return np.maximum(center_squares[:, :, None] + squares[:, None, :] - 2.0 * dots, 0.0)


def kmeans_batched(
    sets: Sequence[np.ndarray], ks: Sequence[int], seed: int = 0, device: str = "cpu", max_iter: int = MAX_ITER
) -> list[np.ndarray]:
    """Labels ``int64 (m_i,)`` for every point set ``sets[i]`` (``(m_i, dim)``) with ``ks[i]`` clusters.

    Sets are sorted by size and cut into steps of at most :data:`STEP_ELEMENTS` padded elements, so
    one set of thousands of points does not pad every other set to its size.
    """
    if len(sets) != len(ks):
        raise ValueError(f"got {len(sets)} point sets but {len(ks)} cluster counts")
    labels: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(sets)
    order = sorted(range(len(sets)), key=lambda i: len(sets[i]))
    group: list[int] = []
    for i in order:
        width = len(sets[i]) * sets[i].shape[1] if len(sets[i]) else 0
        if group and width * (len(group) + 1) > STEP_ELEMENTS:
            _run_group(sets, ks, group, seed, device, max_iter, labels)
            group = []
        group.append(i)
    if group:
        _run_group(sets, ks, group, seed, device, max_iter, labels)
    return labels


def _run_group(
    sets: Sequence[np.ndarray], ks: Sequence[int], group: list[int], seed: int, device: str, max_iter: int, out: list[np.ndarray]
) -> None:
    """Cluster the sets ``group`` together; write each set's labels into ``out``."""
    sizes = np.array([len(sets[i]) for i in group])
    cluster_counts = np.array([ks[i] for i in group])
    flat = None
    if kmeans_graphs.enabled(device):
        numbers = start_numbers(sizes, cluster_counts, seed)
        flat = kmeans_graphs.cluster([sets[i] for i in group], sizes, cluster_counts, numbers, device, max_iter)
    if flat is None:  # not on CUDA, or its graphs are off
        width, dim = int(sizes.max()), sets[group[0]].shape[1]
        starts = np.cumsum(sizes) - sizes
        set_of_point = np.repeat(np.arange(len(group)), sizes)
        points = np.zeros((len(group), width, dim), dtype=np.float64)
        points[set_of_point, np.arange(sizes.sum()) - starts[set_of_point]] = np.concatenate([sets[i] for i in group])
        centers = init_centers_padded(points, sizes, cluster_counts, seed)
        labels = lloyd(points, centers, sizes, cluster_counts, device, max_iter)
        flat = labels[np.arange(width)[None, :] < sizes[:, None]]  # the sets' labels, one after another
    for i, set_labels in zip(group, np.split(flat, np.cumsum(sizes)[:-1]), strict=True):
        out[i] = set_labels
