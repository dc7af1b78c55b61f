"""Read a sentence-transformers model's output dimension from its files, without loading torch."""

from __future__ import annotations

import json
from pathlib import Path


def read_dimension(directory: str | Path) -> int | None:
    """The embedding dimension declared by the folder's modules (last Dense or Pooling), or ``None``.

    ``None`` means the files do not say (e.g. a plain Hugging Face folder); callers then load the model.
    """
    root = Path(directory)
    try:
        modules = json.loads((root / "modules.json").read_text())
    except (OSError, ValueError):
        return None
    dimension: int | None = None
    for module in modules:
        try:
            cfg = json.loads((root / module.get("path", "") / "config.json").read_text())
        except (OSError, ValueError):
            continue
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            base = cfg.get("embedding_dimension") or cfg.get("word_embedding_dimension")
            modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_lasttoken"]
            dimension = int(base) * max(1, len(modes)) if base else None
        elif kind.endswith("Dense") and "out_features" in cfg:
            dimension = int(cfg["out_features"])
    return dimension
