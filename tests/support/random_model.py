"""Build a randomly initialised copy of a sentence-transformers model folder.

Used by the test suite (a tiny model: fast) and by the GPU benchmarks (the default model's exact
architecture with random weights: same speed, no weights to carry). The tokenizer and module layout
(pooling, normalize) are copied from ``base``; only the transformer weights are new.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

_COPIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
           "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def build_random_model(target: str | Path, base: str | Path | None = None, seed: int = 0, **overrides: Any) -> Path:
    """Write a random-weight model to ``target`` and return its path.

    ``base``: the folder whose tokenizer, module layout and config are copied (default: the embedded
    all-MiniLM-L6-v2). ``overrides`` replace config fields, e.g. ``hidden_size=32, num_hidden_layers=1``;
    the pooling dimension follows ``hidden_size``.
    """
    import torch
    from transformers import AutoConfig, AutoModel

    from sqlml.models.registry import default_model_dir

    source = Path(base) if base is not None else default_model_dir()
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    for module_dir in ("1_Pooling", "2_Normalize"):
        if (source / module_dir).is_dir():
            shutil.copytree(source / module_dir, out / module_dir, dirs_exist_ok=True)
    config = AutoConfig.from_pretrained(source, local_files_only=True, **overrides)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(out, safe_serialization=True)
    pooling = out / "1_Pooling" / "config.json"
    if pooling.exists():
        cfg = json.loads(pooling.read_text())
        key = "embedding_dimension" if "embedding_dimension" in cfg else "word_embedding_dimension"
        cfg[key] = config.hidden_size
        pooling.write_text(json.dumps(cfg, indent=2))
    return out
