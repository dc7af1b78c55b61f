"""The same float32 forward pass through ONNX Runtime, for batches of one or two rows on the CPU (search queries).

Why: on a CPU, torch runs a batch of one short text at about the cost of two, nearly all of it in
``addmm`` with a few-row left operand, and ONNX Runtime's kernels run the same graph in about half that
time; from four rows on the two take the same time (``benchmarks/bench_query_embedding.py`` measures it),
so only batches of at most :data:`SMALL_BATCH_ROWS` rows use it.

The graph is the model's own modules (transformer, pooling, ..., then L2 normalisation) traced by
``torch.onnx.export`` from a copy of the model (tracing changes the traced model's outputs afterwards: by
0.065 on all-MiniLM-L6-v2), stored once per model under ``$SQLML_HOME/onnx/FINGERPRINT.onnx`` (written
atomically; 90 MB for the default model, exported in ~2.5 s) and checked against torch on probe texts
each time it is loaded: a file that does not load or disagrees by more than :data:`TOLERANCE` is exported
again, and a model that does not export or still disagrees keeps torch. Without ``onnx`` and
``onnxruntime`` installed, torch runs every batch.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.atomic import write_atomically
from sqlml.errors import SqlmlError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: Largest batch (rows) sent to ONNX Runtime; larger batches run as fast on torch.
SMALL_BATCH_ROWS = 2
#: Largest difference allowed between an ONNX Runtime and a torch embedding (unit vectors; measured: 1.3e-7).
TOLERANCE = 1e-5
#: Texts both paths embed before the graph is used: one alone, and two of different lengths (padding).
PROBES = ("the central bank raised interest rates", "a longer text about the cup final, with three goals in the second half")

#: ``(input_ids, attention_mask)`` int64 ``(rows, length)`` → float32 ``(rows, dimension)``, rows L2-normalised.
Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def onnx_path(fingerprint: str) -> Path:
    """Where the exported graph of the model with ``fingerprint`` is kept."""
    return config.home_dir() / "onnx" / f"{fingerprint}.onnx"


def small_batch_forward(
    model: SentenceTransformer, features: Callable[[Any, Any], dict[str, Any]], torch_forward: Forward,
    tokenize: Callable[[list[str]], tuple[np.ndarray, np.ndarray]], fingerprint: str, threads: int,
) -> Forward | None:
    """An ONNX Runtime forward equal to ``torch_forward`` (within :data:`TOLERANCE` on :data:`PROBES`), or ``None``.

    ``features(ids, mask)``: the feature dict ``model.forward`` takes; ``tokenize(texts)``: padded ids and
    mask. Loads ``onnx_path(fingerprint)``, exporting it first when missing, unloadable or disagreeing.
    ``None`` when onnxruntime or onnx is missing, or the model does not export to an agreeing graph.
    """
    try:
        import onnxruntime  # noqa: F401  (only its presence is checked here)
    except ImportError:
        return None
    path = onnx_path(fingerprint)
    probes = [tokenize([PROBES[0]]), tokenize(list(PROBES))]
    expected = [torch_forward(ids, mask) for ids, mask in probes]
    for fresh in (False, True):
        source: str | bytes = str(path)
        if fresh or not path.exists():
            try:
                source = _export(model, features, *probes[1])
            except Exception as exc:  # an architecture the tracer or ONNX cannot express: torch keeps every batch
                log.info("torch keeps small batches: the model did not export to ONNX (%s: %s)", type(exc).__name__, exc)
                return None
            _keep(path, source)
        session = _load(source, threads)
        if session is not None and all(_agrees(session, ids, mask, want) for (ids, mask), want in zip(probes, expected)):
            return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    log.info("torch keeps small batches: the model's ONNX graph disagrees with torch by more than %g", TOLERANCE)
    return None


def _export(model: SentenceTransformer, features: Callable[[Any, Any], dict[str, Any]], ids: np.ndarray, mask: np.ndarray) -> bytes:
    """The ONNX graph (bytes) of ``model``'s modules and L2 normalisation, traced on a copy of the model."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self, traced: SentenceTransformer) -> None:
            super().__init__()
            self.traced = traced

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.traced.forward(features(input_ids, attention_mask))["sentence_embedding"]
            return torch.nn.functional.normalize(out.float(), p=2, dim=1)

    buffer = io.BytesIO()
    axes = {0: "rows", 1: "length"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow it records as constants
        torch.onnx.export(
            Pipeline(copy.deepcopy(model)).eval(), (torch.from_numpy(ids), torch.from_numpy(mask)), buffer,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes}, opset_version=17, dynamo=False,
        )
    return buffer.getvalue()


def _keep(path: Path, graph: bytes) -> None:
    """Store ``graph`` at ``path`` for the next process; where that folder cannot be written, this process
    still uses the graph from memory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: tmp.write_bytes(graph))
    except (OSError, SqlmlError) as exc:
        log.info("the ONNX graph stays in memory: %s", exc)


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
