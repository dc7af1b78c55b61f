"""Unicode text and a mixed batch of ~20 rows: same rows, same order, same values in every door."""

from __future__ import annotations

from typing import Any

import pytest

from .cases import UNICODE, VARIANTS, value_call
from .compare import assert_same_rows
from .params import door_cases

#: functions whose result is NULL for '' and whitespace-only text too (no sentences), not only for NULL
NULL_WITHOUT_SENTENCES = ("summarize", "summarize_explain")

UNICODE_CASES = [(function, value_call(variant, "unicode")) for variant, function, _ in VARIANTS]
#: the batch, and the same batch reversed
MIXED_CASES = [(function, (value_call(variant, "mixed"), value_call(variant, "mixed-reversed"))) for variant, function, _ in VARIANTS]


@pytest.mark.parametrize(("door", "case"), door_cases(UNICODE_CASES), indirect=["door"])
def test_unicode_text(door: Any, reference: Any, case: Any) -> None:
    """Accents, CJK, emoji, right-to-left and combining characters (one per row): a result, equal to SQL's."""
    got = door.run(case)
    assert len(got) == len(UNICODE) and None not in got, f"{door.name} gives {got!r}"
    assert_same_rows(case.function, got, reference.run(case), door.name)


@pytest.mark.parametrize(("door", "case"), door_cases(MIXED_CASES), indirect=["door"])
def test_mixed_batch_keeps_row_count_order_and_nulls(door: Any, reference: Any, case: Any) -> None:
    case, reversed_case = case
    got = door.run(case)
    assert len(got) == len(case.texts), f"{door.name} gives {len(got)} rows for {len(case.texts)} texts"
    nulls = [t is None or (case.function in NULL_WITHOUT_SENTENCES and not t.strip()) for t in case.texts]
    where = [i for i, v in enumerate(got) if v is None]
    assert [v is None for v in got] == nulls, f"{door.name}: NULL results at {where}, expected at {[i for i, n in enumerate(nulls) if n]}"
    backwards = door.run(reversed_case)
    assert_same_rows(case.function, got, backwards[::-1], door.name, f"{door.name} on the reversed batch")
    assert_same_rows(case.function, got, reference.run(case), door.name)
