"""Positions inside consecutive runs of an array: a key's passage numbers, the offsets of a row's tokens."""

from __future__ import annotations

import numpy as np


def positions_within(sizes: np.ndarray) -> np.ndarray:
    """``int64 (sizes.sum(),)``: for consecutive runs of ``sizes[i]`` elements, each element's position in its
    run (0, 1, ...): a key's passage numbers, or the offsets of a row's tokens."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
