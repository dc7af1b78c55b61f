"""Table-shaped functions: sqlml_search, sqlml_train, and classification with the head it trains."""

from __future__ import annotations

from typing import Any

import pytest

import sqlml

from .cases import CORPUS, HEAD, HEAD_CALLS, SEARCH_CALLS, SEARCH_VARIANTS, TRAIN_CALL, TRAIN_LABELS, TRAIN_TEXTS
from .compare import assert_same_result, assert_same_rows
from .params import door_cases, door_params


@pytest.mark.parametrize(("door", "case"), door_cases([("sqlml_search", c) for c in SEARCH_CALLS.values()]), indirect=["door"])
def test_search(door: Any, reference: Any, case: Any) -> None:
    """The same rows, ranks and scores; NULL text never matches; at most k rows, ranked 1.. (k default 10)."""
    got = door.run(case)
    k = case.kwargs.get("k", 10)
    assert 0 < len(got) <= k and [hit["rank"] for hit in got] == list(range(1, len(got) + 1)), f"{door.name} gives {got}"
    assert not [hit for hit in got if CORPUS[hit["row"]] is None], f"{door.name}: a NULL text matched"
    assert_same_result(got, reference.run(case), door.name)


def test_search_variants_cover_every_mode() -> None:
    assert {args.get("mode", "hybrid") for args in SEARCH_VARIANTS.values()} == {"semantic", "lexical", "hybrid"}


@pytest.mark.parametrize("door", door_params("sqlml_train"), indirect=True)
def test_train_reports_the_same_head_and_metrics(door: Any, reference: Any) -> None:
    """Trained in the door, then again in SQL on the same rows: the same version comes back (docs: training
    the same rows and settings again returns the latest version), with the same counts and held-out metrics."""
    got = door.run(TRAIN_CALL)
    assert got["ref"] == f"{HEAD}@1" and got["labels"] == 3 and got["rows"] == 24 and got["skipped"] == 2, got
    assert_same_result(got, reference.run(TRAIN_CALL), door.name)


@pytest.fixture
def trained_head(door: Any) -> None:
    """The head of TRAIN_CALL in this test's SQLML_HOME (the Ray door's home has it already: same rows, same version)."""
    sqlml.train_classifier(HEAD, list(TRAIN_TEXTS), list(TRAIN_LABELS))


@pytest.mark.parametrize(("door", "case"), door_cases([(c.function, c) for c in HEAD_CALLS.values()]), indirect=["door"])
def test_classify_with_a_trained_head(door: Any, trained_head: None, reference: Any, case: Any) -> None:
    got = door.run(case)
    assert [v is None for v in got] == [t is None for t in case.texts], f"{door.name} gives {got}"
    assert_same_rows(case.function, got, reference.run(case), door.name)
