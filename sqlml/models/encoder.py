"""A loaded text-embedding model split into its two halves: tokenize (any thread) and forward (one worker).

The model folder is read with sentence-transformers, so its modules (transformer, pooling, dense,
normalize) run exactly as ``SentenceTransformer.encode`` runs them. sqlml adds:

* a thread-safe tokenizer (:mod:`sqlml.models.tokenizer`) truncating at ``max_seq_length``, so that
  DuckDB threads tokenize their own chunks concurrently, into flat numpy buffers;
* a forward pass on ready-padded ``int64`` arrays, returning L2-normalised ``float32`` rows, and the
  same pass on device tensors without a host sync (:meth:`Encoder.device_forward`);
* on the CPU, once asked (:meth:`Encoder.serve_queries`), batches of one or two rows through ONNX Runtime
  (:mod:`sqlml.models.onnx_forward`: the same vectors within 1e-5, in about half the time).

How batches run fast on a device (CUDA streams, pinned memory, CUDA graphs, the packed forward pass)
is the engine's business: its CUDA launcher (``engine/cuda/launcher.py``) wraps an :class:`Encoder`.

Embeddings are always L2-normalised: they equal ``SentenceTransformer(dir).encode(texts,
normalize_embeddings=True)``, and cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.errors import ModelLoadError
from sqlml.models import onnx_forward
from sqlml.models.ref import ModelRef, fingerprint_directory
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch
from sqlml.models.weights import check_safetensors_only

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


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
    _prepared_mask: bool = field(default=False, init=False)
    _fingerprint: str | None = None
    _fingerprint_lock: threading.Lock = field(default_factory=threading.Lock)
    _serves_queries: bool = field(default=False, init=False)
    _small_batches: onnx_forward.Forward | None = field(default=None, init=False)
    _small_batches_tried: bool = field(default=False, init=False)
    _small_batches_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @classmethod
    def load(cls, ref: ModelRef, device: str, dtype: str) -> Encoder:
        """Load ``ref`` onto ``device`` in ``dtype``; raise :class:`ModelLoadError` naming the fix."""
        import torch

        model = load_sentence_transformer(ref, device)
        model.eval()
        if dtype != "float32":
            model.to(getattr(torch, dtype))
        return cls.wrap(ref, model, device, dtype)

    @classmethod
    def wrap(cls, ref: ModelRef, model: SentenceTransformer, device: str, dtype: str) -> Encoder:
        """An :class:`Encoder` around a loaded ``model`` (already on ``device`` in ``dtype``, in evaluation mode);
        ``ref`` names the folder it was loaded from or will be saved to. Raises :class:`ModelLoadError` without a fast tokenizer."""
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
        )

    def __post_init__(self) -> None:
        self._prepared_mask = takes_prepared_mask(self.model)

    @property
    def name(self) -> str:
        """The name the model was asked for (``'default'``, an alias, a path or a hub id)."""
        return self.ref.name

    @property
    def display_id(self) -> str:
        """A human-readable id: the hub id of the default model, else the location (:attr:`ModelRef.display_id`)."""
        return self.ref.display_id

    @property
    def host_sync_free(self) -> bool:
        """True when :meth:`device_forward` queues its work without waiting on the device (the transformer
        takes the prepared 4-D mask, :func:`takes_prepared_mask`), so a CUDA graph can capture it."""
        return self._prepared_mask

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text, with special tokens, truncated to ``max_seq_length``; thread-safe, in the calling thread."""
        return self.tokenizer(texts)

    def serve_queries(self) -> None:
        """Embed batches of at most :data:`~sqlml.models.onnx_forward.SMALL_BATCH_ROWS` rows through ONNX
        Runtime from now on, where that is possible (CPU, float32, ``SQLML_ONNX_QUERIES`` not off, onnxruntime
        installed, a graph that agrees with torch); the graph is prepared on the next such batch. Thread-safe."""
        self._serves_queries = (
            self.device == "cpu" and self.dtype == "float32" and config.resolve("onnx_queries", None, True, config.parse_bool)
        )

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embed one padded batch.

        ``input_ids``/``attention_mask``: ``int64`` arrays of shape ``(rows, length)``.
        Returns ``float32`` ``(rows, dimension)``, each row L2-normalised.
        """
        if self._serves_queries and len(input_ids) <= onnx_forward.SMALL_BATCH_ROWS:
            small = self._small_batch_forward()
            if small is not None:
                return small(input_ids, attention_mask)
        return self._torch_forward(input_ids, attention_mask)

    def _torch_forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self._run(input_ids, attention_mask).cpu().numpy()

    def _small_batch_forward(self) -> onnx_forward.Forward | None:
        """The ONNX Runtime forward, prepared on first use; another runtime's worker on this encoder waits for it."""
        with self._small_batches_lock:
            if not self._small_batches_tried:
                import torch

                self._small_batches = onnx_forward.small_batch_forward(
                    self.ref, self._torch_forward, self.pad_texts, self.fingerprint, torch.get_num_threads()
                )
                self._small_batches_tried = True
            return self._small_batches

    def pad_texts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``texts`` tokenized and padded to their longest: ``int64 (rows, length)`` ids and mask."""
        return self.tokenize(texts).pad(np.arange(len(texts)), self.pad_id)

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
        """What the model's first module takes for a batch of ``(rows, length)`` ids and 2-D mask."""
        import torch

        features: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, **self._extra_features}
        if self._uses_token_type_ids:
            features["token_type_ids"] = torch.zeros_like(ids)
        return features

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> torch.Tensor:
        import torch

        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        return self.device_forward(ids, mask)

    def device_forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``int64 (rows, length)`` device tensors → ``float32 (rows, dimension)`` L2-normalised, on the
        device, without a host sync when :attr:`host_sync_free` (CUDA graphs capture exactly this)."""
        import torch

        with torch.inference_mode(), _attention_backends(self.device):
            out: torch.Tensor = self._modules_forward(self.features(ids, mask))["sentence_embedding"]
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


def load_sentence_transformer(ref: ModelRef, device: str) -> SentenceTransformer:
    """The float32 sentence-transformers model of ``ref`` on ``device`` (safetensors only, no remote code, no download).

    Raises :class:`ModelLoadError` naming the fix for a pickle-only, corrupt or incomplete folder.
    """
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise in SQL output
    check_safetensors_only(Path(ref.location), f"model {ref.name!r}")
    try:
        return SentenceTransformer(
            ref.location, device=device, local_files_only=True, trust_remote_code=False, model_kwargs={"use_safetensors": True}
        )
    except Exception as exc:  # corrupt weights, missing config, unsupported architecture, ...
        raise ModelLoadError(
            f"could not load model {ref.name!r} from {ref.location!r}: {type(exc).__name__}: {exc}. "
            "The folder must be a sentence-transformers or Hugging Face model with its config, tokenizer "
            "and weights (safetensors)"
        ) from exc


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
    shape, and length-sorted token-budget batches are nearly all new shapes (tens of ms of host time
    per batch). Elsewhere: torch's choice."""
    from contextlib import nullcontext

    if not device.startswith("cuda"):
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
