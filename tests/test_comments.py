"""Comments in the package give today's reasons; the history of how the code got there lives in
benchmarks/NOTES.md and benchmarks/results/ (run numbers, lever numbers, machine names, workload names)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sqlml"
HISTORY = re.compile(r"\blevers? \d+|\bruns? \d+\b|\bH100\b|\bH200\b|\bW[123]\b|\b\d+-core\b", re.IGNORECASE)


def test_the_package_narrates_no_history() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if HISTORY.search(line)
    ]
    assert found == [], "move these to benchmarks/NOTES.md and say today's reason instead:\n" + "\n".join(found)
