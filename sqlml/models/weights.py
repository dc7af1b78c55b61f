"""Model weights are read from safetensors only, never from a pickle.

A pickle (``pytorch_model.bin``, ``*.pt``, ...) can run code when it is loaded, and model folders are often
received from someone else. Hugging Face models are loaded with ``use_safetensors=True``.
sentence-transformers modules with weights of their own (Dense, LayerNorm, ...) read ``model.safetensors``
when it is there and fall back to ``pytorch_model.bin`` otherwise, with no switch to turn that off:
:func:`check_safetensors_only` refuses such a folder before either library opens it.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlml.errors import ModelLoadError

#: Suffixes of the torch pickle formats weights are shipped in.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})

#: With one of these in a folder, both loaders read it and ignore any pickle beside it.
SAFETENSORS_NAMES = ("model.safetensors", "model.safetensors.index.json")


def weight_folders(folder: Path) -> list[Path]:
    """``folder`` and every module folder its ``modules.json`` names: where the loaders read weights from.

    A missing or unreadable ``modules.json`` gives ``[folder]`` (a plain Hugging Face folder; a broken
    sentence-transformers one fails later in its own loader, with its own message).
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [folder]
    paths = [m.get("path") for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []
    return [folder, *(folder / p for p in paths if isinstance(p, str) and p)]


def check_safetensors_only(folder: Path, what: str) -> None:
    """Raise :class:`ModelLoadError` when a folder of :func:`weight_folders` holds a pickle and no safetensors
    weights (so a loader would unpickle it). ``what`` names the model in the message, e.g. ``"model 'x'"``."""
    for weights in weight_folders(folder):
        if not weights.is_dir() or any((weights / name).is_file() for name in SAFETENSORS_NAMES):
            continue
        pickles = sorted(p for p in weights.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES and p.is_file())
        if pickles:
            raise ModelLoadError(
                f"{what} stores weights as a pickle ({str(pickles[0])!r}), which sqlml does not load because "
                "unpickling can run code. Convert them to safetensors where you trust the file: load the model and "
                "save it again with model.save_pretrained(folder) or, for a sentence-transformers model, "
                "model.save(folder) (both write safetensors), or write its tensors with "
                f"safetensors.torch.save_file(state_dict, 'model.safetensors'); then delete {pickles[0].name!r}"
            )
