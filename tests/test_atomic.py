"""The one atomic writer: whole outputs or none, the user's umask, stale partials of killed runs removed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import sqlml


@pytest.mark.parametrize(("umask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_a_trained_head_folder_follows_the_umask(tiny_model_dir: Path, umask: int, folder_mode: int, file_mode: int) -> None:
    from sqlml.models import heads

    texts = [f"ball game {i}" for i in range(20)] + [f"money bank {i}" for i in range(20)]
    labels = ["sport"] * 20 + ["finance"] * 20
    previous = os.umask(umask)
    try:
        sqlml.train_classifier("topics", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    finally:
        os.umask(previous)
    folder = heads.heads_dir() / "topics" / "v1"
    assert stat.S_IMODE(folder.stat().st_mode) == folder_mode
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {heads.META: file_mode, heads.WEIGHTS: file_mode,
                                                                                  heads.WORDS: file_mode}


def test_a_failed_write_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    from sqlml.atomic import write_atomically

    target = tmp_path / "out.csv"
    target.write_text("before", encoding="utf-8")

    def fail(tmp: Path) -> None:
        tmp.write_text("half", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert target.read_text(encoding="utf-8") == "before"


def test_a_folder_output_is_replaced_whole_with_the_umask_modes(tmp_path: Path) -> None:
    from sqlml.atomic import atomic_folder

    target = tmp_path / "out"
    target.mkdir()
    (target / "earlier-run.parquet").write_bytes(b"PAR1")
    stale = tmp_path / ".out.k9x2ab_q.partial"  # a killed run's folder
    stale.mkdir()
    (stale / "half.parquet").write_bytes(b"PAR1")
    previous = os.umask(0o027)
    try:
        with atomic_folder(target, ".parquet") as folder:
            (folder / "this-run.parquet").write_bytes(b"PAR1")
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in target.iterdir()] == ["this-run.parquet"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert stat.S_IMODE((target / "this-run.parquet").stat().st_mode) == 0o640
