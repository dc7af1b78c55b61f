"""Small assertion helpers shared by several test modules."""

from __future__ import annotations


def close(a: object, b: object) -> bool:
    """Equal, floats within 1e-5: rows merged into other batches may differ in the last bits."""
    if isinstance(a, float):
        return isinstance(b, float) and abs(a - b) <= 1e-5
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b
