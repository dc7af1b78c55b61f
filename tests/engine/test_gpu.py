"""CUDA-only checks of the fast path (run on the GPU machine; skipped elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sqlml.engine.batching import packed_ladder
from sqlml.engine.cuda.launcher import launcher_for
from sqlml.engine.runtime import Runtime
from sqlml.models.registry import load_encoder

pytestmark = pytest.mark.gpu

TEXTS = [f"gpu sentence {i} " + "token " * (i % 40) for i in range(3000)]


def test_cuda_fp16_pipelined_path_agrees_with_cpu_fp32(tiny_model_dir: Path) -> None:
    cpu = Runtime(load_encoder(str(tiny_model_dir), device="cpu"), 256, 16_384).embed(TEXTS)
    gpu = Runtime(load_encoder(str(tiny_model_dir), device="cuda", dtype="float16"), 512, 8_192).embed(TEXTS)
    cosine = (cpu * gpu).sum(axis=1)
    assert cosine.min() >= 0.999


def test_cuda_fp32_is_close_to_cpu(tiny_model_dir: Path) -> None:
    cpu = Runtime(load_encoder(str(tiny_model_dir), device="cpu"), 256, 16_384).embed(TEXTS)
    gpu = Runtime(load_encoder(str(tiny_model_dir), device="cuda", dtype="float32"), 1024, 65_536).embed(TEXTS)
    np.testing.assert_allclose(gpu, cpu, atol=2e-3)


def test_cuda_kmeans_on_its_stream_gives_the_cpu_labels() -> None:
    from sqlml.ops.summarize.kmeans import kmeans_batched

    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(int(m), 16)) for m in rng.integers(2, 40, size=300)]
    ks = [min(6, len(s)) for s in sets]
    cpu = kmeans_batched(sets, ks, seed=0, device="cpu")
    gpu = kmeans_batched(sets, ks, seed=0, device="cuda")
    assert all((a == b).all() for a, b in zip(cpu, gpu, strict=True))


def test_cuda_kmeans_graphs_give_the_op_by_op_labels_from_many_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlml.engine.cuda import kmeans_graphs
    from sqlml.ops.summarize.kmeans import kmeans_batched

    rng = np.random.default_rng(1)
    calls = []
    for count in (300, 300, 70, 5):  # two calls of one shape, two of others
        sets = [rng.normal(size=(int(m), 2)) for m in rng.integers(2, 60, size=count)]
        calls.append((sets, [min(6, len(s)) for s in sets]))
    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "0")
    plain = [kmeans_batched(sets, ks, seed=0, device="cuda") for sets, ks in calls]
    short = [kmeans_batched(sets, ks, seed=0, device="cuda", max_iter=11) for sets, ks in calls[:1]]
    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "1")
    with ThreadPoolExecutor(8) as pool:
        graphed = list(pool.map(lambda call: kmeans_batched(*call, seed=0, device="cuda"), calls * 3))
    for expected, got in zip(plain * 3, graphed, strict=True):
        assert all((a == b).all() for a, b in zip(expected, got, strict=True))
    assert all((a == b).all() for a, b in zip(short[0], kmeans_batched(*calls[0], seed=0, device="cuda", max_iter=11), strict=True))
    graphs = kmeans_graphs._DEVICES["cuda"]
    assert graphs.disabled_because is None and 3 <= graphs._count <= 3 * 8


def test_cuda_prepared_mask_gives_the_plain_forward(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), device="cuda", dtype="float32")
    launcher = launcher_for(encoder)
    ids, mask = encoder.tokenize(TEXTS[:500]).pad(np.arange(500), encoder.pad_id)
    prepared = launcher.launch(ids, mask).result()
    encoder._prepared_mask = False
    try:
        plain = launcher.launch(ids, mask).result()
    finally:
        encoder._prepared_mask = True
    np.testing.assert_allclose(prepared, plain, atol=1e-5)


def test_cuda_graphs_give_the_plain_vectors_with_few_shapes(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    graphed = launcher_for(dataclasses.replace(load_encoder(str(tiny_model_dir), device="cuda", dtype="float32")))
    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "0")
    plain = launcher_for(dataclasses.replace(graphed.encoder))  # made now: without graphs
    assert graphed.pads_to_buckets and not plain.pads_to_buckets
    with_graphs = Runtime(graphed.encoder, 512, 8_192).embed(TEXTS)
    again = Runtime(graphed.encoder, 512, 8_192).embed(TEXTS[::-1])[::-1]  # replayed graphs, other batches
    without = Runtime(plain.encoder, 512, 8_192).embed(TEXTS)
    np.testing.assert_allclose(with_graphs, without, atol=1e-4)
    np.testing.assert_allclose(again, without, atol=1e-4)
    assert 0 < len(graphed._graphs.shapes) <= 16


def test_cuda_packed_flash_path_agrees_with_the_padded_one(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """float16 on CUDA packs tokens (flash attention's variable-length kernel, CUDA graphs per capacity);
    its rows equal the padded path's, and the first and a replayed pass agree."""
    import dataclasses

    packed = launcher_for(dataclasses.replace(load_encoder(str(tiny_model_dir), device="cuda", dtype="float16")))
    monkeypatch.setenv("SQLML_PACKED", "off")
    padded = launcher_for(dataclasses.replace(packed.encoder))  # made now: the padded forward pass
    assert packed.packs_tokens and packed.replays_packed_graphs and not padded.packs_tokens
    with_packing = Runtime(packed.encoder, 512, 8_192).embed(TEXTS)
    again = Runtime(packed.encoder, 700, 8_192).embed(TEXTS[::-1])[::-1]
    without = Runtime(padded.encoder, 512, 8_192).embed(TEXTS)
    assert (with_packing * without).sum(axis=1).min() >= 0.9999
    np.testing.assert_allclose(again, with_packing, atol=2e-3)
    ladder = {(tokens, sequences + 1) for tokens, sequences in packed_ladder(8_192)}
    assert ladder <= set(packed._graphs.shapes) and len(packed._graphs.shapes) <= 24


def test_cuda_packed_without_graphs_agrees(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.setenv("SQLML_CUDA_GRAPHS", "0")
    packed = launcher_for(dataclasses.replace(load_encoder(str(tiny_model_dir), device="cuda", dtype="float16")))
    assert packed.packs_tokens and not packed.replays_packed_graphs
    cpu = Runtime(load_encoder(str(tiny_model_dir), device="cpu"), 256, 16_384).embed(TEXTS)
    assert (Runtime(packed.encoder, 512, 8_192).embed(TEXTS) * cpu).sum(axis=1).min() >= 0.999
