"""Settings: explicit argument > ``SQLML_*`` environment variable > built-in default.

=========================  ==========================  =======================================
setting                    environment variable        default
=========================  ==========================  =======================================
model                      ``SQLML_MODEL``             ``'default'`` (all-MiniLM-L6-v2, bundled)
device                     ``SQLML_DEVICE``            ``'auto'`` (cuda → mps → cpu)
dtype                      ``SQLML_DTYPE``             ``float16`` on CUDA, ``float32`` elsewhere
batch_size (rows/batch)    ``SQLML_BATCH_SIZE``        64 on CPU, 16,384 on GPU
max_batch_tokens           ``SQLML_MAX_BATCH_TOKENS``  16,384 on CPU, 262,144 on GPU
show_progress              ``SQLML_SHOW_PROGRESS``     on for the CLI, off for the library
home                       ``SQLML_HOME``              the user data dir (``platformdirs``)
local_files_only           ``SQLML_LOCAL_FILES_ONLY``  on: never reach the network for models
cache                      ``SQLML_CACHE``             on for CPU models, off for CUDA ones (engine/cache.py)
cache_max_mb               ``SQLML_CACHE_MAX_MB``      2048: cache size bound, oldest entries go first
fast_tokenizer             ``SQLML_FAST_TOKENIZER``    on: blingfire for BERT-uncased models on ASCII text
cuda_graphs                ``SQLML_CUDA_GRAPHS``       on: replay the forward pass (BERT encoders) and summarize's
                                                       k-means as CUDA graphs
packed                     ``SQLML_PACKED``            ``auto``: BERT encoders run unpadded (packed tokens) on CUDA in
                                                       float16/bfloat16; ``on`` also elsewhere; ``off`` never
summarize_piece            ``SQLML_SUMMARIZE_PIECE``   512: a summarize call's texts run in pieces of this many on a
                                                       shared pool of one thread per core; 0: one piece
=========================  ==========================  =======================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlml.errors import ConfigError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_name(setting: str) -> str:
    """The environment variable that holds ``setting``: ``'batch_size'`` → ``'SQLML_BATCH_SIZE'``."""
    return "SQLML_" + setting.upper()


def resolve(setting: str, explicit: T | None, default: T, parse: Callable[[str], T]) -> T:
    """Return ``explicit`` if given, else the parsed environment variable, else ``default``.

    Raises :class:`ConfigError` naming the variable when its value does not parse.
    """
    if explicit is not None:
        return explicit
    raw = os.environ.get(env_name(setting))
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{env_name(setting)}={raw!r} is not valid: {exc}; unset it or fix the value") from exc


def parse_bool(raw: str) -> bool:
    """Parse ``1/true/yes/on`` and ``0/false/no/off`` (any case)."""
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def parse_auto_bool(raw: str) -> bool | None:
    """Parse ``auto`` (→ ``None``: let sqlml decide) or a :func:`parse_bool` value."""
    return None if raw.lower() == "auto" else parse_bool(raw)


def parse_non_negative_int(raw: str) -> int:
    """Parse a whole number ≥ 0."""
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def parse_positive_int(raw: str) -> int:
    """Parse a whole number ≥ 1."""
    value = int(raw)
    if value < 1:
        raise ValueError("expected a whole number >= 1")
    return value


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder where sqlml keeps trained heads and caches (created on first use by its writers)."""
    from platformdirs import user_data_dir

    return Path(resolve("home", None if explicit is None else str(explicit), user_data_dir("sqlml"), str)).expanduser()


def default_model(explicit: str | None = None) -> str:
    """The model name used when a call names none."""
    return resolve("model", explicit, "default", str)


def local_files_only(explicit: bool | None = None) -> bool:
    """Whether model loading must stay off the network (default: yes, safe for offline machines)."""
    return resolve("local_files_only", explicit, True, parse_bool)
