"""The docs hang together: links resolve, the index lists every page, settings and examples are covered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text(encoding="utf-8")) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = [t for t in relative_links(page) if not (page.parent / t.split("#")[0]).exists()]
    assert broken == []


def test_index_links_every_page() -> None:
    linked = {Path(t.split("#")[0]).name for t in relative_links(DOCS / "README.md")}
    assert sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in linked) == []


def test_every_environment_variable_is_documented() -> None:
    used = {m for path in (ROOT / "sqlml").rglob("*.py") for m in re.findall(r"SQLML_[A-Z_]+[A-Z]", path.read_text(encoding="utf-8"))}
    documented = set(re.findall(r"`(SQLML_[A-Z_]+)`", (DOCS / "configuration.md").read_text(encoding="utf-8")))
    assert {"SQLML_MODEL", "SQLML_HOME", "SQLML_CACHE"} <= used
    assert sorted(used - documented) == []


def test_every_example_is_indexed_and_tested() -> None:
    examples = sorted(p.name for p in (ROOT / "examples").iterdir() if p.suffix in {".py", ".sql", ".sh"})
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    tests = (ROOT / "tests" / "test_examples.py").read_text(encoding="utf-8")
    runner = (ROOT / "examples" / "news_triage.py").read_text(encoding="utf-8")
    assert examples == ["cli_pipeline.sh", "news_triage.py", "news_triage.sql", "text_index.py"]
    assert [e for e in examples if e not in index] == []
    assert [e for e in examples if Path(e).stem not in tests and e not in runner] == []


def test_readme_function_table_names_every_public_sql_function() -> None:
    from sqlml.cli.reference import sql_functions

    table = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    missing = [f.name for f in sql_functions() if not any(re.search(rf"`(sqlml\.)?{f.name}\(", line) for line in table)]
    assert missing == []
