"""Device and dtype choice, following sentence-transformers' conventions.

``device='auto'`` picks ``cuda`` if torch sees a GPU, then ``mps``, then ``cpu``. ``dtype`` defaults to
``float16`` on CUDA (the speed path; agreement with fp32 is checked by the benchmarks) and ``float32``
elsewhere. torch is imported lazily, only when a device must actually be chosen.
"""

from __future__ import annotations

from sqlml import config
from sqlml.errors import ConfigError

DTYPES = ("float32", "float16", "bfloat16")


def resolve_device(device: str | None = None) -> str:
    """Return a concrete torch device string (``'cuda'``, ``'cuda:1'``, ``'mps'``, ``'cpu'``).

    Precedence: ``device`` argument > ``SQLML_DEVICE`` > ``'auto'``.
    """
    import torch

    choice = config.resolve("device", device, "auto", str).lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {choice!r} was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
        return choice
    if choice in ("cpu", "mps"):
        return choice
    raise ConfigError(f"unknown device {choice!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def resolve_dtype(dtype: str | None, device: str) -> str:
    """Return one of :data:`DTYPES` for ``device``; precedence argument > ``SQLML_DTYPE`` > by device."""
    default = "float16" if device.startswith("cuda") else "float32"
    choice = config.resolve("dtype", dtype, default, str).lower()
    aliases = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
    choice = aliases.get(choice, choice)
    if choice not in DTYPES:
        raise ConfigError(f"unknown dtype {choice!r}; use one of {', '.join(DTYPES)}")
    if device == "cpu" and choice == "float16":
        raise ConfigError("float16 is not supported on the CPU; use dtype='float32' (the CPU default) or 'bfloat16'")
    return choice


def query_dtype(device: str | None, dtype: str | None) -> str | None:
    """The dtype that embeds search queries: ``dtype`` when one is configured (argument or ``SQLML_DTYPE``);
    else ``'bfloat16'`` on a CPU that computes it natively (AVX-512 BF16); else ``None`` (the device default).

    A query is one short text embedded while a user waits: on such a CPU, bfloat16 weights embed it in about two
    thirds of float32's time, with a cosine of at least 0.9999 to float32's vector (measured in benchmarks/NOTES.md).
    Rows stay in the configured dtype; the model's fingerprint does not depend on the dtype.
    """
    if config.resolve("dtype", dtype, None, str) is not None:
        return dtype
    if resolve_device(device) != "cpu":
        return None
    return "bfloat16" if _native_bfloat16() else None


def _native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (x86 AVX-512 BF16); elsewhere torch emulates it, more slowly."""
    import torch

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)  # torch >= 2.1; private, so looked up defensively
    return bool(probe is not None and probe())
