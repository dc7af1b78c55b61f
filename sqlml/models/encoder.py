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
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.errors import ModelLoadError
from sqlml.engine.cuda.graphs import FILLER_LENGTH, ShapeGraphs, bucket_length
from sqlml.engine.cuda.packed import PackedEncoder, flash_supported, packed_layout
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch

log = logging.getLogger(__name__)

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
    _prepared_mask: bool = field(default=False, init=False)
    _stream: Any = field(default=None, init=False)
    _graphs: ShapeGraphs | None = field(default=None, init=False)
    _packed: PackedEncoder | None = field(default=None, init=False)
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
        )

    def __post_init__(self) -> None:
        self._prepared_mask = takes_prepared_mask(self.model)
        self._packed = choose_packed(self.model, self.device, self.dtype)
        if self.device.startswith("cuda"):
            import torch

            self._stream = torch.cuda.Stream(self.device)
            if not config.resolve("cuda_graphs", None, True, config.parse_bool):
                return
            if self._packed is not None and self._packed.flash:  # fixed attention bound: fixed shapes per capacity
                self._graphs = ShapeGraphs(self._packed_graph_forward, self.device, self._stream)
            elif self._packed is None and self._prepared_mask:
                self._graphs = ShapeGraphs(self._device_forward, self.device, self._stream)

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text, with special tokens, truncated to ``max_seq_length``; thread-safe."""
        return self.tokenizer(texts)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embed one padded batch.

        ``input_ids``/``attention_mask``: ``int64`` arrays of shape ``(rows, length)``.
        Returns ``float32`` ``(rows, dimension)``, each row L2-normalised.
        """
        return self._run(input_ids, attention_mask).cpu().numpy()

    def launch(self, input_ids: np.ndarray, attention_mask: np.ndarray, replay: bool = False) -> _Pending | Ready:
        """Queue one batch and return at once; ``.result()`` waits for the ``float32 (rows, d)`` array.

        On CUDA the inputs go through pinned memory and the result comes back with a non-blocking
        copy, so the caller can pad the next batch while this one runs. All of it runs on the encoder's
        own stream: a device sync elsewhere in the process (k-means, another library) does not wait
        for queued batches, and this stream does not wait for them. ``replay``: run the batch as the
        CUDA graph of its shape (:mod:`sqlml.engine.cuda.graphs`) when :attr:`pads_to_buckets`; the caller
        keeps the number of shapes small. Elsewhere it is :meth:`forward`.
        """
        if self._stream is None:
            return Ready(self.forward(input_ids, attention_mask))
        return self._launch_cuda(input_ids, attention_mask, replay and self.pads_to_buckets, self._device_forward)

    def launch_packed(self, ids: np.ndarray, cu: np.ndarray, replay: bool = False) -> _Pending | Ready:
        """Queue one packed batch (:meth:`sqlml.models.tokens.TokenBatch.packed`: ``int32`` ids and
        sequence bounds); ``.result()`` gives ``float32 (sequences, d)``, L2-normalised (empty sequences:
        zeros). ``replay``: run it as the CUDA graph of its capacity when :attr:`replays_packed_graphs`.
        Only when :attr:`packs_tokens`."""
        import torch

        if self._stream is None:
            with torch.inference_mode():
                return Ready(self._packed_device_forward(torch.from_numpy(ids), torch.from_numpy(cu), _longest(cu)).numpy())
        # the attention bound is only needed when the batch runs without its graph
        return self._launch_cuda(ids, cu, replay and self.replays_packed_graphs, lambda i, c: self._packed_device_forward(i, c, _longest(cu)))

    def capture_packed(self, capacities: list[tuple[int, int]]) -> None:
        """Capture the packed forward pass's graph for each ``(tokens, sequences)`` capacity (and run it
        once, on filler input) when :attr:`replays_packed_graphs`: a job's first batches then replay
        instead of capturing. Call from the runtime's worker only. A failure (out of memory on a small
        GPU, say) stops the capturing with a warning: batches then capture or run as they come."""
        for tokens, sequences in capacities:
            if not self.replays_packed_graphs:  # off, or a capture failed (ShapeGraphs turned them off)
                return
            ids = np.full(tokens, self.pad_id, dtype=np.int32)
            cu = np.minimum(np.arange(sequences + 1, dtype=np.int64) * FILLER_LENGTH, tokens).astype(np.int32)
            try:
                self._launch_cuda(ids, cu, True, self._packed_graph_forward).result()
            except Exception as exc:  # noqa: BLE001 - capturing ahead is an optimisation, never a failure
                log.warning("sqlml: capturing the packed graph of %d tokens ahead failed (%s: %s); batches capture as they come",
                            tokens, type(exc).__name__, exc)
                import torch

                torch.cuda.empty_cache()
                return

    def _launch_cuda(
        self, first: np.ndarray, second: np.ndarray, replay: bool, forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> _Pending:
        """Pin both inputs, run ``forward`` on them (or replay the graph of their shapes) on the encoder's
        stream, and queue the result's copy back to pinned host memory."""
        import torch

        with torch.cuda.stream(self._stream), torch.inference_mode():
            first_host = torch.from_numpy(first).pin_memory()
            second_host = torch.from_numpy(second).pin_memory()
            result = self._graphs(first_host, second_host) if replay else None
            if result is None:
                result = forward(first_host.to(self.device, non_blocking=True), second_host.to(self.device, non_blocking=True))
            host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(result, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        return _Pending(host, event)

    @property
    def packs_tokens(self) -> bool:
        """True when batches should come packed (:meth:`launch_packed`), not padded (:func:`choose_packed`)."""
        return self._packed is not None

    @property
    def replays_packed_graphs(self) -> bool:
        """True when packed batches should be filled to :func:`sqlml.engine.cuda.graphs.packed_capacity` and
        launched with ``replay=True``: CUDA graphs are on for the packed forward pass."""
        return self._packed is not None and self._graphs_on

    @property
    def pads_to_buckets(self) -> bool:
        """True when batches should come padded to few shapes (:func:`sqlml.engine.cuda.graphs.bucket_length`,
        :func:`~sqlml.engine.cuda.graphs.bucket_rows`) and be launched with ``replay=True``: CUDA graphs are on."""
        return self._packed is None and self._graphs_on

    @property
    def _graphs_on(self) -> bool:
        """CUDA graphs exist for this encoder and no capture has turned them off."""
        return self._graphs is not None and self._graphs.disabled_because is None

    def padded_lengths(self, lengths: np.ndarray) -> np.ndarray:
        """The padded length of a batch whose longest row has ``lengths`` tokens (elementwise): the
        bucket when :attr:`pads_to_buckets`, else the length itself."""
        return bucket_length(lengths, self.max_seq_length) if self.pads_to_buckets else lengths

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> torch.Tensor:
        import torch

        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        return self._device_forward(ids, mask)

    def _device_forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``int64 (rows, length)`` device tensors → ``float32 (rows, dimension)`` L2-normalised, on the
        device, without a host sync (CUDA graphs capture exactly this)."""
        import torch

        with torch.inference_mode(), _attention_backends(self.device):
            features: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, **self._extra_features}
            if self._uses_token_type_ids:
                features["token_type_ids"] = torch.zeros_like(ids)
            out: torch.Tensor = self._modules_forward(features)["sentence_embedding"]
            return torch.nn.functional.normalize(out.float(), p=2, dim=1)

    def _packed_device_forward(self, ids: torch.Tensor, cu: torch.Tensor, longest: int) -> torch.Tensor:
        """Packed ``int32`` ids and bounds (device tensors) → ``float32 (sequences, dimension)``, L2-normalised."""
        import torch

        assert self._packed is not None
        pooled = self._packed.forward(ids, cu, longest)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def _packed_graph_forward(self, ids: torch.Tensor, cu: torch.Tensor) -> torch.Tensor:
        """The packed forward pass with the attention bound fixed at ``max_seq_length`` (what graphs capture)."""
        return self._packed_device_forward(ids, cu, self.max_seq_length)

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


def choose_packed(model: SentenceTransformer, device: str, dtype: str) -> PackedEncoder | None:
    """The packed forward pass for this model, or ``None`` for the padded one. Setting ``packed``
    (``SQLML_PACKED``): ``auto`` takes it where flash attention's variable-length kernel serves the model
    (:func:`~sqlml.engine.cuda.packed.flash_supported`: CUDA, float16/bfloat16, compute capability ≥ 8.0,
    torch ≥ 2.10); ``on`` takes it anywhere (attention then runs padded per batch); ``off`` never. Only
    for :func:`~sqlml.engine.cuda.packed.packed_layout`."""
    choice = config.resolve("packed", None, None, config.parse_auto_bool)
    layout = packed_layout(model) if choice is not False else None
    if layout is None:
        return None
    flash = flash_supported(device, dtype, layout.head_dim)
    return PackedEncoder(layout, flash) if flash or choice else None


def _longest(cu: np.ndarray) -> int:
    """The longest sequence of packed bounds ``cu`` (at least 1)."""
    return max(1, int(np.diff(cu).max(initial=1)))


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
