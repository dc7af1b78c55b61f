"""Local Hugging Face sequence classifiers (``AutoModelForSequenceClassification`` folders), loaded once per process.

:class:`HFClassifier` has the shape the engine's runtime runs (tokenize, forward on padded ``int64``
arrays): its rows are label probabilities (``dimension`` = number of labels) instead of embeddings,
so a classifier gets the same cross-thread, length-sorted, token-budget batching and OOM splitting as
embedding. Only local folders are read (``local_files_only=True``) and ``trust_remote_code`` stays off.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sqlml import paths
from sqlml.errors import InvalidArgumentError, ModelLoadError, ModelNotFoundError
from sqlml.models.ref import fingerprint_directory
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch
from sqlml.models.weights import check_safetensors_only

if TYPE_CHECKING:
    import torch


def is_sequence_classifier_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds a Hugging Face config whose architecture ends in ``ForSequenceClassification``."""
    try:
        cfg = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    return isinstance(archs, list) and any(str(a).endswith("ForSequenceClassification") for a in archs)


def classifier_folder(model: str, hint: str) -> Path | None:
    """The sequence-classifier folder ``model`` names, after the path policy (:mod:`sqlml.paths`); ``None`` for no folder.

    ``hint`` says what to use instead. A name starting with ``/ . ~`` must be a permitted, existing folder
    (else :class:`~sqlml.errors.PathNotAllowedError` / :class:`ModelNotFoundError`); a bare name that is no
    permitted folder gives ``None`` (a trained classifier's name). A folder whose config.json names no
    ``*ForSequenceClassification`` architecture raises :class:`InvalidArgumentError`.
    """
    looks_like_path = model.startswith(("/", ".", "~"))
    check = paths.check_user_path if looks_like_path else paths.permitted_path
    folder = check(model, "classifier directory", hint)  # the policy before any file-system call
    if folder is None or not folder.is_dir():
        if looks_like_path:
            raise ModelNotFoundError(f"classifier directory {model!r} does not exist; check the path, or {hint}")
        return None
    if not is_sequence_classifier_dir(folder):
        raise InvalidArgumentError(
            f"{model!r} is not a sequence classifier (its config.json names no *ForSequenceClassification architecture). "
            "For zero-shot classification with an embedding model, pass labels and give the model as the embedding model"
        )
    return folder


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
    _fingerprint: str | None = None
    _fingerprint_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dimension(self) -> int:
        """The number of labels (the width of one output row)."""
        return len(self.labels)

    @property
    def name(self) -> str:
        """The folder, as resolved when loaded."""
        return self.path

    @property
    def display_id(self) -> str:
        """The folder, as resolved when loaded."""
        return self.path

    @property
    def fingerprint(self) -> str:
        """A stable id of the folder's files (:func:`~sqlml.models.ref.fingerprint_directory`)."""
        with self._fingerprint_lock:
            if self._fingerprint is None:
                self._fingerprint = fingerprint_directory(Path(self.path))
            return self._fingerprint

    @classmethod
    def load(cls, path: str, device: str, dtype: str) -> HFClassifier:
        """Load the folder ``path``; raise :class:`ModelLoadError` naming what is wrong."""
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        check_safetensors_only(Path(path), f"sequence classifier {path!r}")
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                path, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=getattr(torch, dtype)
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
        """Token ids per text with special tokens, truncated to ``max_seq_length``; thread-safe, in the calling thread."""
        return self.tokenizer(texts)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``int64 (rows, length)`` pair → ``float32 (rows, labels)`` softmax probabilities."""
        import torch

        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            mask = torch.from_numpy(attention_mask).to(self.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()


_loaded: dict[tuple[str, str, str], HFClassifier] = {}
_lock = threading.Lock()


def load_classifier(path: str, device: str | None = None, dtype: str | None = None) -> HFClassifier:
    """The sequence classifier in the folder ``path`` on ``device``/``dtype``, loaded on first use.

    ``device``/``dtype`` follow :mod:`sqlml.models.device`. Thread-safe; one instance per process and
    (resolved folder, device, dtype); concurrent first calls load once.
    """
    from sqlml.models.device import resolve_device, resolve_dtype

    resolved = str(Path(path).expanduser().resolve())
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    key = (resolved, dev, dt)
    with _lock:
        found = _loaded.get(key)
        if found is None:
            found = _loaded[key] = HFClassifier.load(resolved, dev, dt)
        return found


def loaded_classifiers() -> list[HFClassifier]:
    """Every sequence classifier loaded in this process (one per path, device and dtype)."""
    with _lock:
        return list(_loaded.values())
