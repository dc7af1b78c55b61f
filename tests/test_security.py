"""Security rules: no pickle, no remote code, confined model paths, quoted identifiers, clean lifecycles."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import pytest

import sqlml
from sqlml.errors import ModelNotFoundError
from sqlml.models import registry

ROOT = Path(__file__).resolve().parents[1]


def test_allow_paths_confines_model_directories(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"is outside the folders SQLML_ALLOW_PATHS permits"):
        registry.resolve(str(tiny_model_dir))
    monkeypatch.setenv("SQLML_ALLOW_PATHS", os.pathsep.join([str(tmp_path), str(tiny_model_dir.parent)]))
    assert registry.resolve(str(tiny_model_dir)).kind == "path"


def test_allow_paths_none_still_allows_default_and_registered_names(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", "none")
    assert registry.resolve("default").kind == "default"
    registry.register_alias("approved-tiny", tiny_model_dir)
    assert registry.resolve("approved-tiny").kind == "alias"
    with pytest.raises(ModelNotFoundError, match=r"SQLML_ALLOW_PATHS permits \('none'\)"):
        registry.resolve(str(tiny_model_dir))


def test_symlink_out_of_an_allowed_folder_is_refused(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(tiny_model_dir)
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="outside the folders"):
        registry.resolve(str(link))


def test_sql_cannot_reach_a_forbidden_directory(monkeypatch: pytest.MonkeyPatch, tiny_con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(duckdb.Error, match="outside the folders SQLML_ALLOW_PATHS permits"):
        tiny_con.sql("SELECT embed_list('x', model := '/etc')").fetchall()


def test_no_pickle_or_remote_code_on_any_load_path() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "sqlml").rglob("*.py"))
    assert "import pickle" not in sources and "allow_pickle=True" not in sources and "torch.load(" not in sources
    assert "trust_remote_code=True" not in sources


def test_connect_close_cycles_leak_no_threads_or_files(tiny_model_dir: Path) -> None:
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    def cycle(query: bool) -> None:
        con = sqlml.connect(model=str(tiny_model_dir), device="cpu")
        if query:
            con.sql("SELECT embed('x')").fetchall()
        con.close()

    cycle(query=True)  # the first cycle starts the model's runtime worker, which lives for the process
    threads, files = threading.active_count(), open_files()
    for i in range(1000):
        cycle(query=i % 100 == 0)
    assert threading.active_count() <= threads
    assert open_files() <= files + 2  # slack for the test runner's own log files
