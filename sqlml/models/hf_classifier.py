"""Local Hugging Face sequence classifiers (``AutoModelForSequenceClassification`` folders) run by the runtime.

:class:`HFClassifier` has the runtime's ``BatchModel`` shape: the runtime's rows are label
probabilities (``dimension`` = number of labels) instead of embeddings, so a classifier gets the same
cross-thread, length-sorted, token-budget batching and OOM splitting as embedding. Only local folders
are read (``local_files_only=True``) and ``trust_remote_code`` stays off.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml.errors import ModelLoadError
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch

if TYPE_CHECKING:
    import torch

    from sqlml.engine.runtime import Runtime


def is_sequence_classifier_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds a Hugging Face config whose architecture ends in ``ForSequenceClassification``."""
    try:
        cfg = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    return isinstance(archs, list) and any(str(a).endswith("ForSequenceClassification") for a in archs)


@dataclass
class HFClassifier:
    """A sequence classifier on one device. ``forward`` returns softmax probabilities, ``float32 (rows, labels)``."""

    path: str
    device: str
    dtype: str
    model: torch.nn.Module
    tokenizer: TextTokenizer
    labels: tuple[str, ...]
    pad_id: int
    max_seq_length: int

    @property
    def dimension(self) -> int:
        """The number of labels (the width of one output row)."""
        return len(self.labels)

    @classmethod
    def load(cls, path: str, device: str, dtype: str) -> HFClassifier:
        """Load the folder ``path``; raise :class:`ModelLoadError` naming what is wrong."""
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                path, local_files_only=True, trust_remote_code=False, dtype=getattr(torch, dtype)
            )
            hf_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        except Exception as exc:  # missing/corrupt weights, config or tokenizer files
            raise ModelLoadError(
                f"could not load sequence classifier {path!r}: {type(exc).__name__}: {exc}. The folder must hold a "
                "Hugging Face AutoModelForSequenceClassification (config.json with id2label, safetensors weights, tokenizer.json)"
            ) from exc
        backend = getattr(hf_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError(f"sequence classifier {path!r} has no fast (Rust) tokenizer; sqlml needs tokenizer.json")
        model.to(device).eval()
        id2label = model.config.id2label
        labels = tuple(str(id2label[i]) for i in range(model.config.num_labels))
        if len(set(labels)) != len(labels):
            raise ModelLoadError(f"sequence classifier {path!r} has duplicate names in config.json id2label: {list(labels)}")
        limits = [int(hf_tokenizer.model_max_length), int(getattr(model.config, "max_position_embeddings", 512) or 512)]
        max_len = min(x for x in limits if x > 0)
        return cls(path, device, dtype, model, TextTokenizer(backend, max_len), labels, int(hf_tokenizer.pad_token_id or 0), max_len)

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text with special tokens, truncated to ``max_seq_length``; thread-safe."""
        return self.tokenizer(texts)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``int64 (rows, length)`` pair → ``float32 (rows, labels)`` softmax probabilities."""
        import torch

        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            mask = torch.from_numpy(attention_mask).to(self.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def info(self) -> dict[str, Any]:
        """A row for model listings."""
        return {"name": self.path, "id": self.path, "kind": "hf-classifier", "dimension": self.dimension,
                "device": self.device, "dtype": self.dtype, "loaded": True}


_runtimes: dict[tuple[str, str, str, int, int], Runtime] = {}
_lock = threading.Lock()


def get_classifier_runtime(
    path: str,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_batch_tokens: int | None = None,
) -> Runtime:
    """The process-wide runtime running the classifier folder ``path`` (loaded once per path, device and dtype).

    Batch defaults match :func:`sqlml.engine.runtime.get_runtime`.
    """
    from sqlml import config
    from sqlml.engine.runtime import Runtime
    from sqlml.models.device import resolve_device, resolve_dtype

    resolved = str(Path(path).expanduser().resolve())
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    on_cpu = dev == "cpu"
    rows = config.resolve("batch_size", batch_size, 256 if on_cpu else 4096, config.parse_positive_int)
    tokens = config.resolve("max_batch_tokens", max_batch_tokens, 16_384 if on_cpu else 262_144, config.parse_positive_int)
    key = (resolved, dev, dt, rows, tokens)
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            shared = next((r.encoder for k, r in _runtimes.items() if k[:3] == key[:3]), None)
            runtime = _runtimes[key] = Runtime(shared or HFClassifier.load(resolved, dev, dt), rows, tokens)
        return runtime


def loaded_classifiers() -> list[HFClassifier]:
    """Every sequence classifier loaded in this process (one per path, device and dtype)."""
    with _lock:
        seen: dict[int, HFClassifier] = {}
        for runtime in _runtimes.values():
            seen.setdefault(id(runtime.encoder), runtime.encoder)  # type: ignore[arg-type]
        return list(seen.values())
