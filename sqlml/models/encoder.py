"""A loaded text-embedding model split into its two halves: tokenize (any thread) and forward (one worker).

The model folder is read with sentence-transformers, so its modules (transformer, pooling, dense,
normalize) run exactly as ``SentenceTransformer.encode`` runs them. sqlml adds:

* a thread-safe tokenizer (:mod:`sqlml.models.tokenizer`) truncating at ``max_seq_length``, so that
  DuckDB threads tokenize their own chunks concurrently, into flat numpy buffers;
* a forward pass on ready-padded ``int64`` arrays, returning L2-normalised ``float32`` rows.

Embeddings are always L2-normalised: they equal ``SentenceTransformer(dir).encode(texts,
normalize_embeddings=True)``, and cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml.errors import ModelLoadError
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from sqlml.models.registry import ModelRef


@dataclass
class Encoder:
    """An embedding model on one device. ``forward`` must only be called from one thread at a time."""

    ref: ModelRef
    device: str
    dtype: str
    model: SentenceTransformer
    tokenizer: TextTokenizer
    dimension: int
    max_seq_length: int
    pad_id: int
    _extra_features: dict[str, Any] = field(default_factory=dict)
    _uses_token_type_ids: bool = False
    _prepared_mask: bool = False
    _stream: Any = None
    _fingerprint: str | None = None
    _fingerprint_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, ref: ModelRef, device: str, dtype: str) -> Encoder:
        """Load ``ref`` onto ``device`` in ``dtype``; raise :class:`ModelLoadError` naming the fix."""
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise in SQL output
        try:
            model = SentenceTransformer(
                ref.location, device=device, local_files_only=True, trust_remote_code=False
            )
        except Exception as exc:  # corrupt weights, missing config, unsupported architecture, ...
            raise ModelLoadError(
                f"could not load model {ref.name!r} from {ref.location!r}: {type(exc).__name__}: {exc}. "
                "The folder must be a sentence-transformers or Hugging Face model with its config, tokenizer "
                "and weights (safetensors)"
            ) from exc
        model.eval()
        if dtype != "float32":
            model.to(getattr(torch, dtype))
        backend = getattr(model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError(f"model {ref.name!r} has no fast (Rust) tokenizer; sqlml needs tokenizer.json")
        max_len = int(model.max_seq_length or model.tokenizer.model_max_length)
        probe = model.tokenize([""]) if not hasattr(model, "preprocess") else model.preprocess([""])
        extra = {k: v for k, v in probe.items() if not hasattr(v, "shape")}
        dimension = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else None
        if dimension is None:
            dimension = model.get_sentence_embedding_dimension()
        return cls(
            ref=ref,
            device=device,
            dtype=dtype,
            model=model,
            tokenizer=TextTokenizer(backend, max_len),
            dimension=int(dimension),
            max_seq_length=max_len,
            pad_id=int(model.tokenizer.pad_token_id or 0),
            _extra_features=extra,
            _uses_token_type_ids="token_type_ids" in probe,
            _prepared_mask=takes_prepared_mask(model),
            _stream=torch.cuda.Stream(device) if device.startswith("cuda") else None,
        )

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text, with special tokens, truncated to ``max_seq_length``; thread-safe."""
        return self.tokenizer(texts)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embed one padded batch.

        ``input_ids``/``attention_mask``: ``int64`` arrays of shape ``(rows, length)``.
        Returns ``float32`` ``(rows, dimension)``, each row L2-normalised.
        """
        return self._run(input_ids, attention_mask).cpu().numpy()

    def launch(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> _Pending | Ready:
        """Queue one batch and return at once; ``.result()`` waits for the ``float32 (rows, d)`` array.

        On CUDA the inputs go through pinned memory and the result comes back with a non-blocking
        copy, so the caller can pad the next batch while this one runs. All of it runs on the encoder's
        own stream: a device sync elsewhere in the process (k-means, another library) does not wait
        for queued batches, and this stream does not wait for them. Elsewhere it is :meth:`forward`.
        """
        if self._stream is None:
            return Ready(self.forward(input_ids, attention_mask))
        import torch

        with torch.cuda.stream(self._stream):
            result = self._run(input_ids, attention_mask, pinned=True)
            host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(result, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        return _Pending(host, event)

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray, pinned: bool = False) -> torch.Tensor:
        import torch

        with torch.inference_mode(), _attention_backends(self.device):
            ids = torch.from_numpy(input_ids)
            mask = torch.from_numpy(attention_mask)
            if pinned:
                ids, mask = ids.pin_memory(), mask.pin_memory()
            ids = ids.to(self.device, non_blocking=True)
            mask = mask.to(self.device, non_blocking=True)
            features: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, **self._extra_features}
            if self._uses_token_type_ids:
                features["token_type_ids"] = torch.zeros_like(ids)
            out: torch.Tensor = self._modules_forward(features)["sentence_embedding"]
            return torch.nn.functional.normalize(out.float(), p=2, dim=1)

    def _modules_forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """The model's modules in order. With :func:`takes_prepared_mask`, the transformer gets the
        padding mask ready-made as ``bool (rows, 1, 1, length)``: built from the 2-D mask, transformers
        first checks ``mask.all()`` on the host, a device sync in every batch that stops the next
        batch from being queued while this one runs. The other modules (pooling) get the 2-D mask."""
        if not self._prepared_mask:
            return self.model.forward(features)
        modules = list(self.model)
        mask = features["attention_mask"]
        features["attention_mask"] = mask[:, None, None, :].bool()
        features = modules[0](features)
        features["attention_mask"] = mask
        for module in modules[1:]:
            features = module(features)
        return features

    @property
    def fingerprint(self) -> str:
        """A stable id of the model's files (names, sizes, config text, head of weights): cache keys use it."""
        with self._fingerprint_lock:
            if self._fingerprint is None:
                self._fingerprint = fingerprint_directory(Path(self.ref.location))
            return self._fingerprint


#: Hugging Face architectures whose encoder takes a ready 4-D padding mask as-is (checked against the
#: 2-D mask in tests/models/test_encoder.py). Others (e.g. ModernBERT, which unpads with the 2-D mask)
#: keep the plain forward.
PREPARED_MASK_MODEL_TYPES = frozenset({"bert"})


def takes_prepared_mask(model: SentenceTransformer) -> bool:
    """True when ``model``'s first module is a Hugging Face encoder of :data:`PREPARED_MASK_MODEL_TYPES`
    running torch's SDPA attention, so :meth:`Encoder._modules_forward` may hand it a 4-D mask."""
    auto_model = getattr(model[0], "auto_model", None)
    config = getattr(auto_model, "config", None)
    return (
        config is not None
        and getattr(config, "model_type", None) in PREPARED_MASK_MODEL_TYPES
        and getattr(config, "_attn_implementation", None) == "sdpa"
        and not getattr(config, "is_decoder", False)
    )


def _attention_backends(device: str) -> Any:
    """On CUDA, attention kernels without cuDNN's: cuDNN builds an execution plan for every new batch
    shape, and length-sorted token-budget batches are nearly all new shapes (H100 profile: 12 ms of
    CPU per attention call, 72 ms per batch; see benchmarks/NOTES.md). Elsewhere: torch's choice."""
    from contextlib import nullcontext

    if not device.startswith("cuda"):
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class Ready:
    """A batch result computed synchronously (the non-CUDA form of a pending launch)."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def result(self) -> np.ndarray:
        return self.value


class _Pending:
    """A CUDA batch in flight: pinned host tensor filled once ``event`` completes."""

    def __init__(self, host: torch.Tensor, event: torch.cuda.Event) -> None:
        self.host = host
        self.event = event

    def result(self) -> np.ndarray:
        self.event.synchronize()
        return self.host.numpy()


def fingerprint_directory(directory: Path) -> str:
    """Hash file names, sizes, every small file's bytes and the first MiB of large ones (hex sha256)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(directory)}:{size}\n".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]
