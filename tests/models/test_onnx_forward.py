"""One- and two-row CPU batches through ONNX Runtime: the same vectors as torch, a graph kept per model, and
torch whenever the graph is missing, damaged, another model's, or onnxruntime is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sqlml.errors import SqlmlWarning
from sqlml.models import onnx_forward
from sqlml.models.encoder import Encoder
from sqlml.models.registry import resolve
from tests.support.random_model import build_random_model

TEXTS = ["Rates rose.", "The central bank raised interest rates again on Tuesday, surprising markets.", "x"]


def _private_encoder(model_dir: Path) -> Encoder:
    """An encoder of its own (``load_encoder`` shares one per process)."""
    return Encoder.load(resolve(str(model_dir)), "cpu", "float32")


def _batches(encoder: Encoder) -> list[tuple[np.ndarray, np.ndarray]]:
    """One row alone, two rows of different lengths (padding), three rows (past the small-batch limit)."""
    return [encoder.tokenize(texts).pad(np.arange(len(texts)), encoder.pad_id) for texts in (TEXTS[:1], TEXTS[:2], TEXTS)]


def _torch_vectors(encoder: Encoder) -> list[np.ndarray]:
    return [encoder.forward(ids, mask) for ids, mask in _batches(encoder)]


@pytest.fixture(scope="module")
def tiny_graph(tiny_model_dir: Path) -> bytes:
    """The tiny model's graph, exported once through the real child process (each export starts a Python)."""
    graph, reason = onnx_forward._export(resolve(str(tiny_model_dir)))
    assert graph is not None, reason
    return graph


def _exports_counted(monkeypatch: pytest.MonkeyPatch, graph: bytes) -> list[int]:
    """Make exports return ``graph`` (the real child's output, from :func:`tiny_graph`) and count them."""
    exports: list[int] = []
    monkeypatch.setattr(onnx_forward, "_export", lambda ref: exports.append(1) or (graph, None))
    return exports


def test_small_batches_run_through_onnx_runtime_and_equal_torch(
    tiny_model_dir: Path, tiny_graph: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = _private_encoder(tiny_model_dir)
    expected = _torch_vectors(encoder)
    encoder.serve_queries()
    exports = _exports_counted(monkeypatch, tiny_graph)
    encoder.forward(*_batches(encoder)[0])  # prepares the graph (its probes run on torch too)
    assert encoder._small_batches is not None and exports == [1]  # exported once
    torch_rows: list[int] = []
    real_torch_forward = encoder._torch_forward
    monkeypatch.setattr(encoder, "_torch_forward", lambda ids, mask: torch_rows.append(len(ids)) or real_torch_forward(ids, mask))
    got = _torch_vectors(encoder)
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, atol=onnx_forward.TOLERANCE)
    assert torch_rows == [3]  # past SMALL_BATCH_ROWS: torch; the one- and two-row batches: ONNX Runtime
    assert onnx_forward.onnx_path(encoder.fingerprint).stat().st_size > 0


def test_the_stored_graph_is_reused_by_the_next_encoder(tiny_model_dir: Path, tiny_graph: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    exports = _exports_counted(monkeypatch, tiny_graph)
    first = _private_encoder(tiny_model_dir)
    first.serve_queries()
    _torch_vectors(first)
    assert exports == [1]
    second = _private_encoder(tiny_model_dir)
    second.serve_queries()
    _torch_vectors(second)
    assert second._small_batches is not None and exports == [1]


def _another_models_graph(tmp_path: Path) -> bytes:
    """A graph that loads and takes the same inputs but is another model's (random weights, seed 1)."""
    other = build_random_model(tmp_path / "other", seed=1, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64)
    graph, reason = onnx_forward._export(resolve(str(other)))
    assert graph is not None, reason
    return graph


@pytest.mark.parametrize("damage", ["garbage", "truncated", "another model's graph"])
def test_a_damaged_or_foreign_graph_is_exported_again(
    tiny_model_dir: Path, tiny_graph: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    stored = {"garbage": lambda: b"not a graph", "truncated": lambda: tiny_graph[: len(tiny_graph) // 2],
              "another model's graph": lambda: _another_models_graph(tmp_path)}[damage]()
    exports = _exports_counted(monkeypatch, tiny_graph)
    encoder = _private_encoder(tiny_model_dir)
    expected = _torch_vectors(encoder)
    path = onnx_forward.onnx_path(encoder.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stored)
    encoder.serve_queries()
    for want, have in zip(expected, _torch_vectors(encoder)):
        np.testing.assert_allclose(have, want, atol=onnx_forward.TOLERANCE)
    assert encoder._small_batches is not None and exports == [1]
    assert path.read_bytes() == tiny_graph  # replaced by a graph that agrees


def test_without_onnxruntime_torch_runs_every_batch(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if it were not installed
    encoder = _private_encoder(tiny_model_dir)
    expected = _torch_vectors(encoder)
    encoder.serve_queries()
    got = _torch_vectors(encoder)
    assert encoder._small_batches is None
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


def test_an_unwritable_home_keeps_the_graph_in_memory(
    tiny_model_dir: Path, tiny_graph: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _exports_counted(monkeypatch, tiny_graph)
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("SQLML_HOME", str(blocker))
    encoder = _private_encoder(tiny_model_dir)
    expected = _torch_vectors(encoder)
    encoder.serve_queries()
    got = _torch_vectors(encoder)
    assert encoder._small_batches is not None
    np.testing.assert_allclose(got[0], expected[0], atol=onnx_forward.TOLERANCE)


def test_a_model_that_does_not_export_keeps_torch_with_one_warning_and_a_note(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlml.engine.counters import stats

    exports: list[int] = []
    monkeypatch.setattr(onnx_forward, "_export", lambda ref: exports.append(1) or (None, "the model did not export to ONNX (unsupported operator)"))
    encoder = _private_encoder(tiny_model_dir)
    expected = _torch_vectors(encoder)
    encoder.serve_queries()
    with pytest.warns(SqlmlWarning, match="stay on torch.*unsupported operator.*SQLML_ONNX_QUERIES=0"):
        np.testing.assert_array_equal(_torch_vectors(encoder)[0], expected[0])
    assert encoder._small_batches is None and exports == [1]
    assert any(r["component"] == "onnx" and r["metric"] == "fallbacks" and r["value"] >= 1 for r in stats())
    later = _private_encoder(tiny_model_dir)  # another process with the same libraries: the note says not to try again
    later.serve_queries()
    later.forward(*_batches(later)[0])
    assert later._small_batches is None and exports == [1]
    assert not onnx_forward.onnx_path(encoder.fingerprint).exists()


def test_a_graph_that_disagrees_is_never_stored(tiny_model_dir: Path, tiny_graph: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    _exports_counted(monkeypatch, tiny_graph)
    monkeypatch.setattr(onnx_forward, "TOLERANCE", -1.0)  # no graph can agree
    encoder = _private_encoder(tiny_model_dir)
    encoder.serve_queries()
    with pytest.warns(SqlmlWarning, match="disagrees with torch"):
        encoder.forward(*_batches(encoder)[0])
    path = onnx_forward.onnx_path(encoder.fingerprint)
    assert encoder._small_batches is None and not path.exists() and path.with_suffix(".failed").exists()


def test_only_float32_cpu_encoders_serve_queries_through_onnx(tiny_model_dir: Path) -> None:
    encoder = Encoder.load(resolve(str(tiny_model_dir)), "cpu", "bfloat16")
    encoder.serve_queries()
    encoder.forward(*_batches(encoder)[0])
    assert encoder._small_batches is None and not onnx_forward.onnx_path(encoder.fingerprint).exists()


def test_sqlml_onnx_queries_off_keeps_torch(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_ONNX_QUERIES", "0")
    encoder = _private_encoder(tiny_model_dir)
    encoder.serve_queries()
    encoder.forward(*_batches(encoder)[0])
    assert not encoder._serves_queries and encoder._small_batches is None
