"""Equality across doors: embeddings by cosine (>= 0.9999), other floats within 1e-5, the rest exactly;
error messages exactly, up to the name of the function the user called in that door."""

from __future__ import annotations

import math
import re
from typing import Any

COSINE = 0.9999
TOLERANCE = 1e-5
VECTOR_FUNCTIONS = ("embed", "embed_list")

#: (door, function) -> the name an error message may start with instead of the SQL function's name: the
#: entry point the user called in that door ("search: k must be ..." for sqlml.search).
CALLED_AS: dict[tuple[str, str], str] = {
    ("python", "embed_list"): "embed",  # sqlml.embed serves both
    ("python", "sqlml_search"): "search",
    ("python", "sqlml_train"): "train_classifier",
    ("cli", "classify_scores"): "classify",  # `sqlml classify --scores`
    ("ray", "classify_scores"): "classify",  # sqlml.ray.classify(scores=True)
}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def close(a: Any, b: Any) -> bool:
    """Equal at any depth, floats within :data:`TOLERANCE`."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= TOLERANCE
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


def same_value(function: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if function in VECTOR_FUNCTIONS:
        return len(a) == len(b) and cosine(a, b) >= COSINE
    return close(a, b)


def assert_same_rows(function: str, got: list[Any], expected: list[Any], door: str, against: str = "sql") -> None:
    """``got`` (from ``door``) equals ``expected`` (from ``against``) row by row."""
    assert len(got) == len(expected), f"{door} gives {len(got)} rows, {against} {len(expected)}"
    bad = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if not same_value(function, a, b)]
    assert not bad, "; ".join(f"row {i}: {door} gives {_short(got[i])}, {against} gives {_short(expected[i])}" for i in bad[:3]) + (
        f" ({len(bad)} rows differ)" if len(bad) > 3 else "")


def assert_same_result(got: Any, expected: Any, door: str, against: str = "sql") -> None:
    assert close(got, expected), f"{door} gives {_short(got)}, {against} gives {_short(expected)}"


_PREFIX = re.compile(r"^(\w+): ")


def assert_same_message(door: str, function: str, got: str, expected: str) -> None:
    """The same error text, allowing only the leading function name to be the one called in ``door``."""
    alias = CALLED_AS.get((door, function))
    prefix = _PREFIX.match(got)
    if alias and prefix and prefix.group(1) == alias and expected.startswith(f"{function}: "):
        got = f"{function}: " + got[prefix.end():]
    assert got == expected, f"\n{door}: {got}\nsql: {expected}"
