from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from sqlml.engine.batching import bucket_rows
from sqlml.engine.cuda.launcher import Launcher, launcher_for
from sqlml.engine.pending import Ready
from sqlml.engine.runtime import Runtime, get_runtime
from sqlml.models.registry import load_encoder


@pytest.fixture
def runtime(tiny_model_dir: Path) -> Runtime:
    # A private runtime on a private copy of the encoder (sharing the loaded model), so tests can patch
    # its methods without leaving anything behind on the process-wide encoder other tests use.
    return Runtime(dataclasses.replace(load_encoder(str(tiny_model_dir), device="cpu")), batch_size=16, max_batch_tokens=256)


def texts(n: int) -> list[str]:
    return [f"sentence number {i} " + "word " * (i % 17) for i in range(n)]


def test_rows_come_back_in_caller_order(runtime: Runtime) -> None:
    batch = texts(300)
    together = runtime.embed(batch)
    one_by_one = np.stack([runtime.embed([t])[0] for t in batch[:40]])
    np.testing.assert_allclose(together[:40], one_by_one, atol=1e-5)
    assert together.shape == (300, 32) and together.dtype == np.float32


def test_concurrent_callers_get_their_own_rows(runtime: Runtime) -> None:
    expected = runtime.embed(texts(400))
    chunks = [texts(400)[i : i + 50] for i in range(0, 400, 50)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(runtime.embed, chunks))
    np.testing.assert_allclose(np.concatenate(results), expected, atol=1e-5)
    assert runtime.snapshot().rows == 800


def test_rounds_and_their_times_are_counted(runtime: Runtime) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(runtime.embed, [texts(40)] * 8))
    stats = runtime.snapshot()
    assert stats.requests == 8 and 1 <= stats.rounds <= 8
    assert stats.round_us > 0 and stats.queue_wait_us >= 0


def test_out_of_memory_halves_the_batch_and_loses_nothing(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = runtime.embed(texts(64))
    real_forward = runtime.encoder.forward

    def forward_that_fits_four_rows(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if len(ids) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(ids, mask)

    monkeypatch.setattr(runtime.encoder, "forward", forward_that_fits_four_rows)
    np.testing.assert_allclose(runtime.embed(texts(64)), expected, atol=1e-5)
    assert runtime.snapshot().oom_splits > 0


def test_one_row_that_does_not_fit_fails_only_its_request(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    real_forward = runtime.encoder.forward

    def always_oom(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(runtime.encoder, "forward", always_oom)
    with pytest.raises(torch.OutOfMemoryError):
        runtime.embed(["a"])
    monkeypatch.setattr(runtime.encoder, "forward", real_forward)
    assert runtime.embed(["the worker is still alive"]).shape == (1, 32)


def test_exception_in_worker_leaves_it_serving(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    real_forward = runtime.encoder.forward
    monkeypatch.setattr(runtime.encoder, "forward", lambda ids, mask: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        runtime.embed(["x"])
    monkeypatch.setattr(runtime.encoder, "forward", real_forward)
    assert runtime.embed(["y"]).shape == (1, 32)
    assert runtime.snapshot().failed_rounds == 1


def test_empty_request(runtime: Runtime) -> None:
    assert runtime.embed([]).shape == (0, 32)


def test_get_runtime_is_shared_per_settings(tiny_model_dir: Path) -> None:
    a = get_runtime(str(tiny_model_dir), "cpu", batch_size=8)
    assert get_runtime(str(tiny_model_dir), "cpu", batch_size=8) is a
    assert get_runtime(str(tiny_model_dir), "cpu", batch_size=9) is not a


def test_several_devices_share_the_work_and_keep_order(tiny_model_dir: Path) -> None:
    single = get_runtime(str(tiny_model_dir), "cpu")
    multi = get_runtime(str(tiny_model_dir), "cpu,cpu")
    assert len(multi.runtimes) == 2
    chunks = [texts(300)[i : i + 30] for i in range(0, 300, 30)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(multi.embed, chunks))
    np.testing.assert_allclose(np.concatenate(results), single.embed(texts(300)), atol=1e-5)
    assert all(r.snapshot().rows > 0 for r in multi.runtimes)
    assert multi.snapshot().rows == 300


def test_cuda_all_without_a_gpu_names_the_fix(tiny_model_dir: Path) -> None:
    from sqlml.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"device 'cuda:all' was asked for but torch sees no CUDA GPU"):
        get_runtime(str(tiny_model_dir), "cuda:all")


def test_a_model_replaying_graphs_gets_few_padded_shapes_and_the_same_rows(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A launcher with ``pads_to_buckets`` (CUDA graphs) gets bucketed shapes; filler rows never leak out."""
    expected = runtime.embed(texts(300))
    encoder = runtime.encoder
    launcher = launcher_for(encoder)
    shapes = []

    def launch(ids: np.ndarray, mask: np.ndarray, replay: bool = False) -> Ready:
        assert replay
        shapes.append(ids.shape)
        return Ready(encoder.forward(ids, mask))

    monkeypatch.setattr(Launcher, "pads_to_buckets", property(lambda self: True))
    monkeypatch.setattr(launcher, "launch", launch)
    np.testing.assert_allclose(runtime.embed(texts(300)), expected, atol=1e-5)
    assert {length for _, length in shapes} <= {16, 24, 32, 48, 64}
    for rows, length in shapes:
        capacity = min(16, 256 // length)
        assert rows in {bucket_rows(r, capacity) for r in range(1, capacity + 1)}


def test_the_interface_operations_see(runtime: Runtime, tiny_model_dir: Path) -> None:
    """What operations read of a runtime is the model's, without reaching into it; the same on several devices."""
    encoder = runtime.encoder
    assert (runtime.dimension, runtime.device, runtime.dtype, runtime.max_seq_length) == (32, "cpu", "float32", encoder.max_seq_length)
    assert runtime.fingerprint == encoder.fingerprint and runtime.model_name == str(tiny_model_dir)
    assert runtime.model_id == encoder.ref.display_id
    batch = texts(40) + ["", "word " * 5000]
    lengths = runtime.token_lengths(batch)
    assert lengths.tolist() == encoder.tokenize(batch).lengths.tolist()
    assert lengths.dtype == np.int64 and lengths.max() == encoder.max_seq_length
    multi = get_runtime(str(tiny_model_dir), "cpu,cpu")
    assert (multi.dimension, multi.device, multi.fingerprint, multi.model_id) == (32, "cpu", runtime.fingerprint, runtime.model_id)
    assert multi.token_lengths(batch).tolist() == lengths.tolist()
