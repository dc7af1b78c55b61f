"""Shared fixtures: a tiny random model (fast), the real default model, and isolated settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

import sqlml
from tests.support.random_model import build_random_model

TINY_DIMENSION = 32

# Property tests draw the same examples on every run and machine: CI stays reproducible, and a failure
# found once is kept as an explicit @example.
settings.register_profile("sqlml", derandomize=True, print_blob=True)
settings.load_profile("sqlml")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-d BERT with the default model's tokenizer and random weights (seed 0)."""
    return build_random_model(
        tmp_path_factory.mktemp("tiny-model"),
        hidden_size=TINY_DIMENSION,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test gets its own SQLML_HOME and no SQLML_* settings leaking in from the environment."""
    import os

    for name in list(os.environ):
        if name.startswith("SQLML_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SQLML_HOME", str(tmp_path / "sqlml-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_model_aliases() -> Iterator[None]:
    """Names registered by a test (sqlml.register_model) are forgotten after it."""
    from sqlml.models import registry

    saved, unlisted = registry.aliases(), dict(registry._unlisted)
    yield
    with registry._lock:
        registry._aliases.clear()
        registry._aliases.update(saved)
        registry._unlisted.clear()
        registry._unlisted.update(unlisted)


@pytest.fixture
def tiny_con(tiny_model_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sqlml connection whose default model is the tiny random model, on CPU."""
    con = sqlml.connect(model=str(tiny_model_dir), device="cpu")
    yield con
    con.close()


@pytest.fixture
def default_con() -> Iterator[duckdb.DuckDBPyConnection]:
    """A sqlml connection on the real embedded all-MiniLM-L6-v2, on CPU."""
    con = sqlml.connect(device="cpu")
    yield con
    con.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` where torch sees no CUDA device (CI never has one)."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
