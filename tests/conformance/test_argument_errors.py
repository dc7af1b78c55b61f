"""Bad arguments raise in every door with the same sqlml error text (CLI: `Error: ...`, exit code != 0, no traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sqlml
from sqlml.errors import InvalidArgumentError

from .cases import ERROR_CASES, TRAIN_ERROR_CASES, error_call
from .compare import assert_same_message
from .doors import CLI_FLAGS
from .params import door_cases

CASES = [(function, (error_call(case, function, changes), phrase)) for case, function, changes, phrase in ERROR_CASES]
CASES += [("sqlml_train", (c, phrase)) for _, c, phrase in TRAIN_ERROR_CASES]


@pytest.mark.parametrize(("door", "case"), door_cases(CASES), indirect=["door"])
def test_bad_argument_gives_the_same_error_in_every_door(door: Any, reference: Any, case: tuple[Any, str]) -> None:
    call, phrase = case
    expected = reference.error(call)
    assert phrase in expected, f"the SQL error does not say {phrase!r}: {expected}"
    assert_same_message(door.name, call.function, door.error(call), expected)


#: Whole numbers past int64: SQL's types refuse them when the query binds (a DuckDB binder error), so the
#: core's check must refuse them in the doors that pass Python ints on, under both row policies.
HUGE = 2**63
ABOVE = f"got {HUGE}, above the largest allowed ({HUGE - 1})"
N_HUGE = f"n must be a positive number of sentences, {ABOVE}; pass n := 1 or more"
BEYOND_INT64 = [
    ("n-huge", "summarize", {"n": HUGE}, f"summarize: {N_HUGE}"),
    ("n-huge-null", "summarize", {"n": HUGE, "on_error": "null"}, f"summarize: {N_HUGE}"),
    ("n-huge", "summarize_explain", {"n": HUGE}, f"summarize_explain: {N_HUGE}"),
    ("k-huge", "top_k_sentences", {"k": HUGE}, f"top_k_sentences: k must be a whole number >= 1, {ABOVE}"),
    ("k-huge-null", "sqlml_search", {"k": HUGE, "on_error": "null"}, f"sqlml_search: k must be a whole number >= 1, {ABOVE}"),
]
HUGE_CASES = [
    p for p in door_cases([(f, (error_call(case, f, changes), phrase)) for case, f, changes, phrase in BEYOND_INT64])
    if p.values[0] == "python" or (p.values[0] == "cli" and p.values[1][0].function in CLI_FLAGS)
]


@pytest.mark.parametrize(("door", "case"), HUGE_CASES, indirect=["door"])
def test_whole_numbers_past_int64_are_argument_errors(door: Any, case: tuple[Any, str]) -> None:
    call, message = case
    assert_same_message(door.name, call.function, door.error(call), message)


BATCH_SIZE = "batch_size must be a whole number of rows >= 1, got {}; leave it unset to use SQLML_BATCH_SIZE or the default"
TEXTS = ["A text about sport. Another sentence."]
#: Python-only values (SQL's types and click's int refuse them before sqlml sees them): bools, fractions, negatives.
PYTHON_NUMBERS: list[tuple[str, Callable[[], Any], str]] = [
    ("n-true", lambda: sqlml.summarize(TEXTS, n=True), "summarize: n must be a positive number of sentences, got True; pass n := 1 or more"),
    ("n-float", lambda: sqlml.summarize_explain(TEXTS, n=2.0), "summarize_explain: n must be a positive number of sentences, got 2.0; pass n := 1 or more"),
    ("k-negative", lambda: sqlml.top_k_sentences(TEXTS, "sport", k=-1), "top_k_sentences: k must be a whole number >= 1, got -1"),
    ("k-numpy-zero", lambda: sqlml.search(TEXTS, "sport", k=np.int64(0)), "search: k must be a whole number >= 1, got np.int64(0)"),
    ("batch-zero", lambda: sqlml.embed(TEXTS, batch_size=0), BATCH_SIZE.format(0)),
    ("batch-true", lambda: sqlml.summarize(TEXTS, batch_size=True), BATCH_SIZE.format(True)),
    ("batch-float", lambda: sqlml.relevance(TEXTS, "sport", batch_size=2.5), BATCH_SIZE.format(2.5)),
    ("batch-huge", lambda: sqlml.classify(TEXTS, ["a", "b"], batch_size=2**63), BATCH_SIZE.format(f"{2**63}, above the largest allowed ({2**63 - 1})")),
    ("connect-batch-negative", lambda: sqlml.connect(batch_size=-3), BATCH_SIZE.format(-3)),
    ("connect-tokens-zero", lambda: sqlml.connect(max_batch_tokens=0),
     "max_batch_tokens must be a whole number of tokens >= 1, got 0; leave it unset to use SQLML_MAX_BATCH_TOKENS or the default"),
]


@pytest.mark.parametrize(("run", "message"), [pytest.param(r, m, id=i) for i, r, m in PYTHON_NUMBERS])
def test_python_whole_number_arguments_are_checked(run: Callable[[], Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        run()
    assert str(raised.value) == message


MODEL_TYPE = "{}: model must be a name or a path (str or os.PathLike), not int 7; pass the model's name or folder as a string"


MODEL_CALLS: dict[str, Callable[[Any], Any]] = {
    "embed": lambda model: sqlml.embed(TEXTS, model=model),
    "summarize": lambda model: sqlml.summarize(TEXTS, model=model),
    "summarize_explain": lambda model: sqlml.summarize_explain(TEXTS, model=model),
    "relevance": lambda model: sqlml.relevance(TEXTS, "sport", model=model),
    "top_k_sentences": lambda model: sqlml.top_k_sentences(TEXTS, "sport", model=model),
    "search": lambda model: sqlml.search(TEXTS, "sport", model=model),
}


@pytest.mark.parametrize(("function", "run"), [pytest.param(f, r, id=f) for f, r in MODEL_CALLS.items()])
def test_python_model_arguments_take_paths_and_refuse_other_types(function: str, run: Callable[[Any], Any], tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        run(7)
    assert str(raised.value) == MODEL_TYPE.format(function)
    as_path, as_text = run(tiny_model_dir), run(str(tiny_model_dir))
    assert str(as_path) == str(as_text)
