"""Parametrisation over doors: each case with every door that offers its function (see doors.SURFACE)."""

from __future__ import annotations

from typing import Any

import pytest

from .doors import DOOR_NAMES, RAY_SUBSET, SURFACE, NotOffered


def door_params(*functions: str) -> list[pytest.ParameterSet]:
    """``pytest.param(door)`` for each door offering every one of ``functions`` (Ray ones marked ``ray``)."""
    names = [d for d in DOOR_NAMES if all(not isinstance(SURFACE[f][d], NotOffered) for f in functions)]
    return [pytest.param(d, id=d, marks=[pytest.mark.ray] if d == "ray" else []) for d in names]


def door_cases(cases: list[tuple[str, Any]]) -> list[pytest.ParameterSet]:
    """``pytest.param(door, case)`` for every case and every door offering the case's function.

    ``cases``: ``(function, case)`` pairs, ``case`` a :class:`cases.Call` or a tuple starting with one;
    the test id is ``door-<call label>``. Of the failure and trained-head cases Ray runs ``doors.RAY_SUBSET``.
    """
    params = []
    for function, case in cases:
        first = case[0] if isinstance(case, tuple) else case
        subset = first.fails or first.label.startswith(("poison-", "head/"))
        for p in door_params(function):
            if p.values[0] == "ray" and subset and first.label not in RAY_SUBSET:
                continue
            params.append(pytest.param(p.values[0], case, id=f"{p.values[0]}-{first.label}", marks=p.marks))
    return params
