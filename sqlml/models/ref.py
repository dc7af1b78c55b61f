"""Where a model name points (:class:`ModelRef`) and the identity of a model's files (:func:`fingerprint_directory`).

Its own module so that the registry (which resolves names and loads encoders) and the encoder (which
keeps the reference it was loaded from) both depend on it without depending on each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

#: The hub id of the embedded default model (all-MiniLM-L6-v2).
DEFAULT_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelRef:
    """Where a model name points. ``location`` is a directory path or a hub id; ``kind`` says which."""

    name: str
    kind: str  # 'default' | 'alias' | 'path' | 'hub'
    location: str

    @property
    def display_id(self) -> str:
        """A human-readable id: the hub id of the default model, else the location."""
        return DEFAULT_ID if self.kind == "default" else self.location


def fingerprint_directory(directory: Path) -> str:
    """Hash file names, sizes, every small file's bytes and the first MiB of large ones (hex sha256, 16 characters)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(directory)}:{size}\n".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]
