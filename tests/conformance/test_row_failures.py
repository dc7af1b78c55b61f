"""A row whose text makes the model fail (the poisoned model, see conftest.py), under both on_error policies.

'raise' (the default): the same error in every door, naming the function, the row, its text and the fix.
'null': only that row gives NULL (search: never matches), every other row its normal result, in every door.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .cases import CLEANED_TEXTS, POISON_FUNCTIONS, POISONED_TEXTS, poison_call
from .compare import assert_same_message, assert_same_result, assert_same_rows
from .params import door_cases

RAISE_CASES = [(f, poison_call(f, None)) for f in POISON_FUNCTIONS]
NULL_CASES = [(f, poison_call(f, "null")) for f in POISON_FUNCTIONS]
FIX = "fix or filter that row, or pass on_error := 'null' (Python on_error='null', CLI --on-error null) to get NULL for failing rows"


@pytest.mark.parametrize(("door", "case"), door_cases(RAISE_CASES), indirect=["door"])
def test_a_failing_row_raises_naming_the_row_and_the_fix(door: Any, reference: Any, case: Any) -> None:
    expected = reference.error(case)
    bad = POISONED_TEXTS[1]
    pattern = (rf"{case.function}: row 2 of 4 in this batch \(text of {len(bad)} characters starting '{re.escape(bad)}'\) "
               rf"failed: IndexError: index out of range in self; {re.escape(FIX)}")
    assert re.fullmatch(pattern, expected), f"the SQL error does not name the row, its text and the fix: {expected}"
    assert_same_message(door.name, case.function, door.error(case), expected)


@pytest.mark.parametrize(("door", "case"), door_cases(NULL_CASES), indirect=["door"])
def test_null_policy_nulls_only_the_failing_row(door: Any, reference: Any, case: Any) -> None:
    got = door.run(case)
    clean = reference.run(poison_call(case.function, None, CLEANED_TEXTS))  # the poisoned row as NULL text
    if case.function == "sqlml_search":
        assert {hit["row"] for hit in got}.isdisjoint({1, 2}), f"{door.name}: the failing or NULL row matched: {got}"
        assert_same_result(got, clean, door.name, "sql with that row NULL")
        assert_same_result(got, reference.run(case), door.name)
        return
    assert [v is None for v in got] == [False, True, True, False], f"{door.name} gives {got!r}"
    assert_same_rows(case.function, got, clean, door.name, "sql with that row NULL")
    assert_same_rows(case.function, got, reference.run(case), door.name)
