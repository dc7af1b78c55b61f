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
