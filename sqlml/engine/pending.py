"""A batch queued on a device (:class:`Pending`), and one computed at once (:class:`Ready`).

The runtime launches batch i+1 before it waits for batch i; what a launch returns is a :class:`Pending`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Pending(Protocol):
    """A batch queued on a device; ``result`` waits for it and gives its ``float32 (rows, d)`` array."""

    def result(self) -> np.ndarray: ...


class Ready:
    """A batch result computed synchronously (the non-CUDA form of a pending launch)."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def result(self) -> np.ndarray:
        return self.value
