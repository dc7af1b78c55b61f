"""A BERT sentence encoder run on packed tokens: no padding anywhere.

Padded batches of length-sorted rows of short sentences still spend about half of the device's work on
padding, and the worker pays host time
to sort, bucket and pad every round. Here a batch is the rows' token ids laid end to end
(``ids``, ``(tokens,)``) with their boundaries (``cu``, ``(sequences + 1,)``, the running sum of
lengths): every linear layer, norm and activation runs on real tokens only, attention runs per
sequence (flash attention's variable-length kernel on CUDA; elsewhere a padded SDPA inside the
attention step only), and pooling sums each sequence's tokens.

Only layouts whose result this reproduces exactly are taken (:func:`packed_layout`): a Hugging Face
``bert`` encoder with absolute positions and SDPA attention, then mean or CLS pooling, then optionally
normalisation. The transformer's own submodules do the work, so weights and dtypes are the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlml import config

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

#: Pooling modes this module reproduces (sentence-transformers' names).
POOLING_MODES = ("mean", "cls")


@dataclass(frozen=True)
class PackedLayout:
    """What :class:`PackedEncoder` needs of a model: its BERT encoder and pooling mode."""

    bert: Any
    pooling: str

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return int(self.bert.encoder.layer[0].attention.self.attention_head_size)


def packed_layout(model: SentenceTransformer) -> PackedLayout | None:
    """The model's layout when it is ``[Transformer(bert), Pooling(mean|cls), Normalize?]`` with absolute
    positions, SDPA attention and no decoder; else ``None`` (the padded path runs it)."""
    modules = list(model)
    if not 2 <= len(modules) <= 3 or (len(modules) == 3 and type(modules[2]).__name__ != "Normalize"):
        return None
    bert = getattr(modules[0], "auto_model", None)
    config = getattr(bert, "config", None)
    if (
        config is None
        or getattr(config, "model_type", None) != "bert"
        or getattr(config, "position_embedding_type", "absolute") != "absolute"
        or getattr(config, "_attn_implementation", None) != "sdpa"
        or getattr(config, "is_decoder", False)
        or not hasattr(bert, "embeddings")
        or not hasattr(bert, "encoder")
    ):
        return None
    pooling = pooling_mode(modules[1])
    return PackedLayout(bert, pooling) if pooling in POOLING_MODES else None


def choose_packed(model: SentenceTransformer, device: str, dtype: str) -> PackedEncoder | None:
    """The packed forward pass for this model, or ``None`` for the padded one. Setting ``packed``
    (``SQLML_PACKED``): ``auto`` takes it where flash attention's variable-length kernel serves the model
    (:func:`flash_supported`: CUDA, float16/bfloat16, compute capability ≥ 8.0, torch ≥ 2.10); ``on``
    takes it anywhere (attention then runs padded per batch); ``off`` never. Only for
    :func:`packed_layout`."""
    choice = config.resolve("packed", None, None, config.parse_auto_bool)
    layout = packed_layout(model) if choice is not False else None
    if layout is None:
        return None
    flash = flash_supported(device, dtype, layout.head_dim)
    return PackedEncoder(layout, flash) if flash or choice else None


def flash_supported(device: str, dtype: str, head_dim: int) -> bool:
    """True when flash attention's variable-length kernel (``torch.nn.attention.varlen``, torch ≥ 2.10)
    serves this device and dtype: an NVIDIA GPU of compute capability 8.0 (Ampere) or newer, float16 or
    bfloat16, and heads of a multiple of 8 up to 256 values wide. Elsewhere the kernel raises at the
    first batch, so the padded path runs instead."""
    if not device.startswith("cuda") or dtype not in ("float16", "bfloat16") or head_dim % 8 or head_dim > 256:
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    import torch

    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def pooling_mode(module: Any) -> str | None:
    """``'mean'``, ``'cls'``, ... of a sentence-transformers Pooling module (6.x names it, 5.x has flags)."""
    if type(module).__name__ != "Pooling" or not hasattr(module, "get_config_dict"):
        return None
    config = module.get_config_dict()
    if not config.get("include_prompt", True):
        return None
    if "pooling_mode" in config:
        return str(config["pooling_mode"])
    modes = [name for name in ("cls", "mean", "max") if config.get(f"pooling_mode_{name}_token" if name == "cls" else f"pooling_mode_{name}_tokens")]
    others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and not k.endswith(("cls_token", "mean_tokens", "max_tokens"))]
    return modes[0] if len(modes) == 1 and not others else None


class PackedEncoder:
    """``forward(ids, cu, max_len)`` → pooled ``float32 (sequences, hidden)`` rows (not normalised).

    ``ids``: ``int32 (tokens,)`` on the model's device; ``cu``: ``int32 (sequences + 1,)``, starting at 0,
    non-decreasing, ending at ``tokens`` (empty sequences allowed: their rows are zeros). ``max_len``: at
    least the longest sequence (the attention kernel's bound; a fixed value keeps CUDA graph shapes fixed).
    No host sync: CUDA graphs can capture it. ``flash``: use flash attention's variable-length kernel
    (CUDA, float16/bfloat16 only); otherwise each batch's attention runs padded to ``max_len``.
    """

    def __init__(self, layout: PackedLayout, flash: bool) -> None:
        self.bert = layout.bert
        self.pooling = layout.pooling
        self.flash = flash
        self.heads = int(self.bert.config.num_attention_heads)
        self.head_dim = layout.head_dim

    def forward(self, ids: torch.Tensor, cu: torch.Tensor, max_len: int) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            tokens = ids.shape[0]
            positions = torch.arange(tokens, device=ids.device)
            sequence = torch.searchsorted(cu[1:], positions.to(cu.dtype), right=True)  # (tokens,) int64
            positions = positions - cu[sequence]
            hidden = self._embed(ids, positions)
            for layer in self.bert.encoder.layer:
                hidden = self._layer(layer, hidden, cu, sequence, positions, max_len)
            return self._pool(hidden, cu, sequence)

    def _embed(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        embeddings = self.bert.embeddings
        summed = embeddings.word_embeddings(ids) + embeddings.token_type_embeddings.weight[0]
        return embeddings.LayerNorm(summed + embeddings.position_embeddings(positions))

    def _layer(self, layer: Any, hidden: torch.Tensor, cu: torch.Tensor, sequence: torch.Tensor, positions: torch.Tensor, max_len: int) -> torch.Tensor:
        projections = layer.attention.self
        shape = (hidden.shape[0], self.heads, self.head_dim)
        query, key, value = (p(hidden).view(shape) for p in (projections.query, projections.key, projections.value))
        if self.flash:
            from torch.nn.attention.varlen import varlen_attn

            attended = varlen_attn(query, key, value, cu, cu, max_len, max_len)
        else:
            attended = _padded_attention(query, key, value, cu, sequence, positions, max_len)
        attention_output = layer.attention.output(attended.reshape(hidden.shape), hidden)
        return layer.output(layer.intermediate(attention_output), attention_output)

    def _pool(self, hidden: torch.Tensor, cu: torch.Tensor, sequence: torch.Tensor) -> torch.Tensor:
        import torch

        count = cu.shape[0] - 1
        if self.pooling == "cls":
            return hidden[cu[:-1].clamp(max=hidden.shape[0] - 1).long()].float()
        sums = torch.zeros((count, hidden.shape[1]), dtype=torch.float32, device=hidden.device)
        sums.index_add_(0, sequence, hidden.float())
        lengths = (cu[1:] - cu[:-1]).clamp(min=1).to(torch.float32)
        return sums / lengths[:, None]


def _padded_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, cu: torch.Tensor, sequence: torch.Tensor, positions: torch.Tensor, max_len: int) -> torch.Tensor:
    """Per-sequence attention of packed ``(tokens, heads, dim)`` tensors through SDPA on a ``(sequences,
    heads, max_len, dim)`` padded copy; the same result as the variable-length kernel, for devices and
    dtypes it does not serve."""
    import torch

    count = cu.shape[0] - 1
    padded = []
    for tensor in (query, key, value):
        dense = tensor.new_zeros((count, max_len, *tensor.shape[1:]))
        dense[sequence, positions] = tensor
        padded.append(dense.transpose(1, 2))
    valid = torch.arange(max_len, device=cu.device)[None, :] < (cu[1:] - cu[:-1])[:, None]
    attended = torch.nn.functional.scaled_dot_product_attention(*padded, attn_mask=valid[:, None, None, :])
    return attended.transpose(1, 2)[sequence, positions]
