"""scikit-learn's k-means from sqlml's k-means++ start: the reference the batched k-means is checked against."""

from __future__ import annotations

import numpy as np

from sqlml.ops.summarize.kmeans import MAX_ITER, init_centers


def kmeans_sklearn(points: np.ndarray, k: int, seed: int = 0, max_iter: int = MAX_ITER) -> np.ndarray:
    """Labels ``int64 (m,)`` of ``points`` (``(m, dim)``) with scikit-learn's ``KMeans`` (the reference)."""
    from sklearn.cluster import KMeans

    data = np.asarray(points, dtype=np.float64)
    model = KMeans(k, init=init_centers(data, k, seed), n_init=1, max_iter=max_iter, tol=0.0, algorithm="lloyd")
    return model.fit(data).labels_.astype(np.int64)
