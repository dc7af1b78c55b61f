"""Resumable column jobs: each finished record batch is saved as its own small Parquet part.

Parts live in a hidden folder beside the output (``.OUT.parquet.parts/``), each written through the
atomic writer (:mod:`sqlml.atomic`), so a killed job leaves only whole parts. A ``manifest.json`` records
what the job was (input files with sizes and modification times, column, operation); ``--resume``
continues only when it matches, and skips every batch whose part is already there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sqlml.atomic import atomic_path, write_atomically
from sqlml.errors import InvalidArgumentError


class PartCheckpoint:
    """The parts folder of one output file."""

    def __init__(self, output: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        target = Path(output)
        self.folder = target.parent / f".{target.name}.parts"
        self.manifest = manifest

    @staticmethod
    def describe_inputs(files: list[str]) -> list[dict[str, Any]]:
        """Identity of the input files for the manifest: path, size, modification time."""
        return [{"path": os.path.abspath(f), "size": os.stat(f).st_size, "mtime_ns": os.stat(f).st_mtime_ns} for f in files]

    def start(self, resume: bool) -> int:
        """Prepare the folder; with ``resume`` keep matching parts. Returns how many parts are kept."""
        manifest_file = self.folder / "manifest.json"
        if resume and manifest_file.exists():
            saved = _read_manifest(manifest_file)
            if saved != self.manifest:
                raise InvalidArgumentError(
                    "cannot resume: the inputs or options changed since the interrupted run "
                    f"(see {manifest_file}); run again without --resume to start over"
                )
            return len(list(self.folder.glob("part-*.parquet")))
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        text = json.dumps(self.manifest, indent=2, sort_keys=True)
        write_atomically(manifest_file, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return 0

    def _part(self, index: int) -> Path:
        return self.folder / f"part-{index:08d}.parquet"

    def has(self, index: int, rows: int) -> bool:
        """Whether batch ``index`` is saved whole (``rows`` rows, readable footer)."""
        path = self._part(index)
        if not path.exists():
            return False
        try:
            return pq.ParquetFile(path).metadata.num_rows == rows
        except (pa.ArrowInvalid, OSError):
            return False

    def save(self, index: int, table: pa.Table) -> None:
        """Write batch ``index`` atomically."""
        with atomic_path(self._part(index)) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    def parts(self) -> list[Path]:
        """Saved parts in batch order."""
        return sorted(self.folder.glob("part-*.parquet"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_manifest(path: Path) -> dict[str, Any]:
    """The saved manifest (a JSON object); raises :class:`InvalidArgumentError` for a file that is unreadable or not one."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: UnicodeDecodeError and JSONDecodeError
        raise _unreadable(path) from exc
    if not isinstance(saved, dict):
        raise _unreadable(path)
    return saved


def _unreadable(path: Path) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"cannot resume: the checkpoint manifest {str(path)!r} is unreadable or not sqlml's; run without --resume to start over")
