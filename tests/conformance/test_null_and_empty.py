"""NULL, empty and whitespace-only text: rows kept in order, results as documented, equal in every door.

The documented behaviour (docs/sql-reference.md from udfs/*.sql, and README's function table):
embed: NULL -> NULL; '' and whitespace are embedded like any text (special tokens only).
summarize / summarize_explain: NULL, '' and whitespace-only (no sentences) -> NULL.
classify / classify_scores: NULL -> NULL; '' is classified like any text.
relevance: NULL text -> NULL.  top_k_sentences: NULL -> NULL; '' -> [].
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from .cases import LABELS, VARIANTS, value_call
from .compare import assert_same_rows, same_value
from .params import door_cases

VECTOR, LABEL, SCORES = "a unit vector", "one of the labels", "every label's probability, highest first"
#: function -> kind of text ('null', 'empty' = '', 'whitespace') -> documented result (None = NULL)
DOCUMENTED: dict[str, dict[str, Any]] = {
    "embed": {"null": None, "empty": VECTOR, "whitespace": VECTOR},
    "embed_list": {"null": None, "empty": VECTOR, "whitespace": VECTOR},
    "summarize": {"null": None, "empty": None, "whitespace": None},
    "summarize_explain": {"null": None, "empty": None, "whitespace": None},
    "classify": {"null": None, "empty": LABEL},
    "classify_scores": {"null": None, "empty": SCORES},
    "relevance": {"null": None},
    "top_k_sentences": {"null": None, "empty": []},
}
TEXT_CASES = ("null", "all-null", "blank")


def kind(text: str | None) -> str:
    return "null" if text is None else "empty" if text == "" else "whitespace" if not text.strip() else "text"


def documented(expectation: Any, value: Any) -> bool:
    if expectation == VECTOR:
        return isinstance(value, list) and len(value) > 0 and abs(math.sqrt(sum(v * v for v in value)) - 1) < 1e-4
    if expectation == LABEL:
        return value in LABELS
    if expectation == SCORES:
        scores = [s["score"] for s in value] if isinstance(value, list) else []
        return (sorted(s["label"] for s in value) == sorted(LABELS) and abs(sum(scores) - 1) < 1e-5
                and scores == sorted(scores, reverse=True))
    return value == expectation


CASES = [(function, value_call(variant, texts)) for variant, function, _ in VARIANTS for texts in TEXT_CASES]


@pytest.mark.parametrize(("door", "case"), door_cases(CASES), indirect=["door"])
def test_null_empty_and_whitespace_text(door: Any, reference: Any, case: Any) -> None:
    got = door.run(case)
    assert len(got) == len(case.texts), f"{door.name} gives {len(got)} rows for {len(case.texts)} texts"
    rules = DOCUMENTED[case.function]
    wrong = [(i, kind(t), got[i]) for i, t in enumerate(case.texts) if kind(t) in rules and not documented(rules[kind(t)], got[i])]
    assert not wrong, "; ".join(f"row {i} ({k} text): {door.name} gives {v!r}, the docs say {rules[k]!r}" for i, k, v in wrong)
    assert_same_rows(case.function, got, reference.run(case), door.name)


@pytest.mark.parametrize(("door", "case"), door_cases([(f, value_call(f, "blank")) for f in ("embed", "embed_list")]), indirect=["door"])
def test_empty_and_whitespace_embed_as_the_special_tokens_alone(door: Any, case: Any) -> None:
    """'' and whitespace-only text both become the model's special tokens, so their vectors are one vector."""
    empty, *whitespace = door.run(case)
    for vector in whitespace:
        assert same_value(case.function, vector, empty)
