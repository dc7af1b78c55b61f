"""The reference docs are generated from udfs/ and --help, and the committed copies are current."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlml.cli.reference import cli_reference, sql_functions, sql_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_public_sql_function_is_documented() -> None:
    functions = sql_functions()
    assert {"embed", "embed_list", "sqlml_models"} <= {f.name for f in functions}
    undocumented = [f.name for f in functions if len(f.doc) < 30]
    assert undocumented == []


@pytest.mark.parametrize(("name", "generate"), [("sql-reference.md", sql_reference), ("cli-reference.md", cli_reference)])
def test_committed_reference_is_current(name: str, generate) -> None:
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == generate(), f"docs/{name} is stale: run python -m sqlml.cli.reference docs/"
