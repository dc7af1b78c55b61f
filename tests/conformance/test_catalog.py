"""sqlml_models and sqlml_stats: the same columns and rows in every door that lists them."""

from __future__ import annotations

from typing import Any

import pytest

import sqlml

from .cases import call
from .compare import assert_same_result
from .params import door_params

MODELS = call("sqlml_models", ())
STATS = call("sqlml_stats", ())


@pytest.mark.parametrize("door", door_params("sqlml_models"), indirect=True)
def test_models_lists_the_same_rows(door: Any, reference: Any) -> None:
    sqlml.embed(["load the default model"])  # so the list has a loaded model with its device and dtype
    got = door.run(MODELS)
    expected = reference.run(MODELS)
    assert any(m["loaded"] for m in expected) and expected[0]["name"] == "default", expected
    assert_same_result(got, expected, door.name)


@pytest.mark.parametrize("door", door_params("sqlml_stats"), indirect=True)
def test_stats_lists_the_same_counters(door: Any, reference: Any) -> None:
    """Counters only grow, so a later SQL reading has every counter of the door's reading, none smaller."""
    sqlml.embed(["count me"])
    got = door.run(STATS)
    expected = {(s["component"], s["name"], s["metric"], s["reason"]): s["value"] for s in reference.run(STATS)}
    assert got and set(got[0]) == {"component", "name", "metric", "reason", "value"}, got[:1]
    for s in got:
        key = (s["component"], s["name"], s["metric"], s["reason"])
        assert key in expected and expected[key] >= s["value"], f"{door.name} has {key} = {s['value']}, SQL then {expected.get(key)}"
