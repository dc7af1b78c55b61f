"""`ruff check` over the repository passes: pyflakes and import order, as configured in pyproject.toml [tool.ruff]."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_reports_nothing() -> None:
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed; it is a dev dependency: pip install -e '.[dev]'", pytrace=False)
    # --no-cache: the suite writes nothing into the working tree. Paths and rules come from [tool.ruff].
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(f"ruff check found problems (fix with `ruff check --fix`, or by hand):\n{proc.stdout}{proc.stderr}", pytrace=False)
