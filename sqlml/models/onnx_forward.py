"""The same float32 forward pass through ONNX Runtime, for batches of one or two rows on the CPU (search queries).

Why: on a CPU, torch runs a batch of one short text at about the cost of two, nearly all of it in
``addmm`` with a few-row left operand, and ONNX Runtime's kernels run the same graph in about half that
time; from four rows on the two take the same time (``benchmarks/bench_query_embedding.py`` measures it),
so only batches of at most :data:`SMALL_BATCH_ROWS` rows use it.

The graph is the model's own modules (transformer, pooling, ..., then L2 normalisation) traced by
``torch.onnx.export`` in a child process (tracing changes the traced model's later outputs, emits warnings
and holds a second copy of the weights: none of that belongs in the user's process). It is checked against
torch on :data:`PROBES` before it is used and each time a process loads it, then kept under
``$SQLML_HOME/onnx/FINGERPRINT.onnx`` (written atomically). A stored graph that does not load or disagrees
is exported again; a model that does not export, or whose graph disagrees by more than :data:`TOLERANCE`,
keeps torch, with one warning per process, a ``fallbacks`` counter in ``sqlml_stats()``, and a
``FINGERPRINT.failed`` note so that later processes with the same torch and onnxruntime do not try again.
Without ``onnx`` and ``onnxruntime`` installed, torch runs every batch.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sqlml import config
from sqlml.atomic import write_atomically
from sqlml.errors import SqlmlError, SqlmlWarning
from sqlml.models.ref import ModelRef

log = logging.getLogger(__name__)

#: Largest batch (rows) sent to ONNX Runtime; larger batches run as fast on torch.
SMALL_BATCH_ROWS = 2
#: Largest difference allowed between an ONNX Runtime and a torch embedding (unit vectors).
TOLERANCE = 1e-5
#: Texts both paths embed before the graph is used: one alone, and two of different lengths (padding).
PROBES = ("the central bank raised interest rates", "a longer text about the cup final, with three goals in the second half")
#: Seconds the child process may take to export a graph.
EXPORT_TIMEOUT_S = 600

_fallbacks_lock = threading.Lock()
_fallbacks: Counter[tuple[str, str]] = Counter()  # (model name, reason) → models given up on in this process

#: ``(input_ids, attention_mask)`` int64 ``(rows, length)`` → float32 ``(rows, dimension)``, rows L2-normalised.
Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def onnx_path(fingerprint: str) -> Path:
    """Where the exported graph of the model with ``fingerprint`` is kept."""
    return config.home_dir() / "onnx" / f"{fingerprint}.onnx"


def small_batch_forward(
    ref: ModelRef, torch_forward: Forward, tokenize: Callable[[list[str]], tuple[np.ndarray, np.ndarray]],
    fingerprint: str, threads: int,
) -> Forward | None:
    """An ONNX Runtime forward equal to ``torch_forward`` (within :data:`TOLERANCE` on :data:`PROBES`), or ``None``.

    ``tokenize(texts)``: padded ids and mask. Loads ``onnx_path(fingerprint)``, exporting the model of ``ref``
    first when the file is missing, unloadable or disagreeing. ``None`` when onnxruntime or onnx is missing, or
    the model does not export to an agreeing graph (now or, with the same library versions, in an earlier process).
    """
    try:
        import onnxruntime  # noqa: F401  (only its presence is checked here)
    except ImportError:
        return None
    path = onnx_path(fingerprint)
    probes = [tokenize([PROBES[0]]), tokenize(list(PROBES))]
    expected = [torch_forward(ids, mask) for ids, mask in probes]

    def agreeing(source: str | bytes) -> Any:
        session = _load(source, threads)
        good = session is not None and all(_agrees(session, ids, mask, want) for (ids, mask), want in zip(probes, expected))
        return session if good else None

    session = agreeing(str(path)) if path.exists() else None
    if session is None:
        failed = path.with_suffix(".failed")
        if _read(failed) == _versions():
            return None  # an earlier process found this model's graph unusable with these libraries
        graph, reason = _export(ref)
        session = None if graph is None else agreeing(graph)
        if session is None:
            _give_up(ref, failed, reason or f"its ONNX graph disagrees with torch by more than {TOLERANCE:g}")
            return None
        _keep(path, graph)  # type: ignore[arg-type]
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def fallback_counts() -> list[dict[str, Any]]:
    """``sqlml_stats()`` rows: per model and reason, how often its one-query batches were left on torch."""
    with _fallbacks_lock:
        return [{"component": "onnx", "name": name, "metric": "fallbacks", "reason": reason, "value": count}
                for (name, reason), count in sorted(_fallbacks.items())]


def _versions() -> str:
    """The libraries an export depends on, as the ``.failed`` note records them."""
    import onnxruntime
    import torch

    return f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _give_up(ref: ModelRef, failed: Path, reason: str) -> None:
    """Torch keeps this model's small batches: one warning, a counter, and the ``.failed`` note (where writable)."""
    warnings.warn(SqlmlWarning(
        f"model {ref.name!r}: one-query batches stay on torch (about twice ONNX Runtime's time on a CPU): {reason}; "
        f"set SQLML_ONNX_QUERIES=0 to skip the attempt"), stacklevel=2)
    with _fallbacks_lock:
        _fallbacks[(ref.name, reason.split(" (")[0])] += 1
    _keep(failed, _versions().encode())


def _export(ref: ModelRef) -> tuple[bytes | None, str | None]:
    """The ONNX graph (bytes) of ``ref``'s modules and L2 normalisation, traced in a child process, or
    ``(None, reason)`` when it does not export."""
    command = [sys.executable, "-m", "sqlml.models.onnx_export", ref.name, ref.kind, ref.location]
    try:
        done = subprocess.run(command, capture_output=True, timeout=EXPORT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"the export did not finish ({type(exc).__name__}: {exc})"
    if done.returncode != 0 or not done.stdout:
        errors = done.stderr.decode(errors="replace").strip().splitlines()
        return None, f"the model did not export to ONNX ({errors[-1] if errors else f'exit code {done.returncode}'})"
    return done.stdout, None


def _keep(path: Path, content: bytes) -> None:
    """Store ``content`` (a graph or a ``.failed`` note) at ``path`` for the next process; where that folder cannot
    be written, only this process knows it (a graph is used from memory)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: tmp.write_bytes(content))
    except (OSError, SqlmlError) as exc:
        log.info("could not store %s for later processes: %s", path.name, exc)


def _load(source: str | bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session over ``source`` (a path or the graph's bytes) on ``threads`` threads that
    sleep between runs, or ``None`` when it does not load (truncated, corrupt). Spinning threads would slow the
    torch work beside them."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its graph-optimisation notes are not the user's business
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types for a damaged file
        log.info("exporting the ONNX graph again: it did not load (%s)", exc)
        return None


def _agrees(session: Any, ids: np.ndarray, mask: np.ndarray, expected: np.ndarray) -> bool:
    """Whether ``session`` embeds the probe ``(ids, mask)`` as torch did (``expected``), within :data:`TOLERANCE`."""
    try:
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    except Exception:  # a graph from another model version that takes other inputs
        return False
    return bool(got.shape == expected.shape and np.abs(got - expected).max() <= TOLERANCE)
