"""Bad arguments raise in every door with the same sqlml error text (CLI: `Error: ...`, exit code != 0, no traceback)."""

from __future__ import annotations

from typing import Any

import pytest

from .cases import ERROR_CASES, TRAIN_ERROR_CASES, error_call
from .compare import assert_same_message
from .params import door_cases

CASES = [(function, (error_call(case, function, changes), phrase)) for case, function, changes, phrase in ERROR_CASES]
CASES += [("sqlml_train", (c, phrase)) for _, c, phrase in TRAIN_ERROR_CASES]


@pytest.mark.parametrize(("door", "case"), door_cases(CASES), indirect=["door"])
def test_bad_argument_gives_the_same_error_in_every_door(door: Any, reference: Any, case: tuple[Any, str]) -> None:
    call, phrase = case
    expected = reference.error(call)
    assert phrase in expected, f"the SQL error does not say {phrase!r}: {expected}"
    assert_same_message(door.name, call.function, door.error(call), expected)
