"""The packed (unpadded) forward pass: same vectors as the padded one, on CPU (padded attention inside)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from sqlml.engine.batching import FILLER_LENGTH, TOKEN_STEPS, pack, packed_capacity, packed_ladder, plan_packed
from sqlml.engine.cuda.launcher import Launcher, launcher_for
from sqlml.engine.cuda.packed import PackedEncoder, flash_supported, packed_layout, pooling_mode
from sqlml.engine.runtime import Runtime
from sqlml.models.registry import load_encoder
from sqlml.models.tokens import TokenBatch

TEXTS = ["", "a", "Short one.", *(f"packed sentence {i} " + "word " * (i % 23) for i in range(200)), "long " * 600]


def private_launcher(tiny_model_dir: Path) -> Launcher:
    """The launcher of a private copy of the tiny CPU encoder (sharing the loaded model), made now: it
    reads ``SQLML_PACKED`` as set at this moment, and runtimes built on its encoder use it."""
    return launcher_for(dataclasses.replace(load_encoder(str(tiny_model_dir), device="cpu")))


@pytest.fixture
def packed(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Launcher:
    """The tiny CPU encoder's launcher with the packed forward pass forced on."""
    monkeypatch.setenv("SQLML_PACKED", "on")
    return private_launcher(tiny_model_dir)


@pytest.fixture
def padded(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Launcher:
    monkeypatch.setenv("SQLML_PACKED", "off")
    return private_launcher(tiny_model_dir)


def test_cpu_takes_the_packed_path_only_when_asked(tiny_model_dir: Path, packed: Launcher, padded: Launcher, monkeypatch: pytest.MonkeyPatch) -> None:
    assert packed.packs_tokens and not packed.replays_packed_graphs and not packed.pads_to_buckets
    assert not padded.packs_tokens
    monkeypatch.delenv("SQLML_PACKED")  # auto: CUDA with flash attention only
    assert not private_launcher(tiny_model_dir).packs_tokens


def test_a_runtime_runs_its_encoder_through_the_encoders_one_launcher(packed: Launcher) -> None:
    """Runtimes of one encoder (other batch settings) share its launcher: one stream, one set of graphs."""
    assert Runtime(packed.encoder, 64, 2048)._runner is packed
    assert Runtime(packed.encoder, 32, 1024)._runner is packed


def test_packed_rows_equal_the_padded_rows(packed: Launcher, padded: Launcher) -> None:
    expected = Runtime(padded.encoder, 64, 2048).embed(TEXTS)
    runtime = Runtime(packed.encoder, 64, 2048)
    got = runtime.embed(TEXTS)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    stats = runtime.snapshot()
    assert stats.padded_tokens == stats.tokens  # no graphs: no filler
    assert stats.batches > 1


def test_filler_and_empty_sequences_change_no_real_row(packed: Launcher) -> None:
    tokens = packed.encoder.tokenize(TEXTS[:50])
    ids, cu = pack(tokens, 0, 50)
    plain = packed.launch_packed(ids, cu).result()
    capacity = packed_capacity(len(ids), 50, 4096)
    filled_ids, filled_cu = pack(tokens, 0, 50, capacity, packed.encoder.pad_id)
    filled = packed.launch_packed(filled_ids, filled_cu).result()
    assert filled.shape == (capacity[1], plain.shape[1])
    np.testing.assert_allclose(filled[:50], plain, atol=1e-5)


def test_packed_layout_matches_sentence_transformers_encode(packed: Launcher) -> None:
    reference = packed.encoder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = Runtime(packed.encoder, 512, 100_000).embed(TEXTS)
    assert ((got * reference).sum(axis=1) >= 0.99999).all()


def test_layouts_it_cannot_reproduce_keep_the_padded_path(packed: Launcher) -> None:
    class Pooling:
        def __init__(self, config: dict) -> None:
            self.config = config

        def get_config_dict(self) -> dict:
            return self.config

    assert pooling_mode(Pooling({"pooling_mode": "mean"})) == "mean"
    assert pooling_mode(Pooling({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})) == "mean"
    assert pooling_mode(Pooling({"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True})) is None
    assert pooling_mode(Pooling({"pooling_mode": "mean", "include_prompt": False})) is None
    model = packed.encoder.model
    assert packed_layout([model[0]]) is None  # no pooling
    assert packed_layout([model[0], model[1], torch.nn.Identity()]) is None
    layout = packed_layout(model)
    assert layout is not None and layout.pooling == "mean"
    bert = layout.bert
    bert.config.position_embedding_type = "relative_key"
    try:
        assert packed_layout(model) is None
    finally:
        bert.config.position_embedding_type = "absolute"


def test_cls_pooling(packed: Launcher) -> None:
    layout = dataclasses.replace(packed_layout(packed.encoder.model), pooling="cls")
    tokens = packed.encoder.tokenize(TEXTS[:20])
    ids, cu = pack(tokens, 0, 20)
    encoder = PackedEncoder(layout, flash=False)
    with torch.inference_mode():
        hidden = packed.encoder.model[0].auto_model(**{"input_ids": torch.from_numpy(tokens.pad(np.arange(20), 0)[0]),
                                               "attention_mask": torch.from_numpy(tokens.pad(np.arange(20), 0)[1])}).last_hidden_state
        got = encoder.forward(torch.from_numpy(ids), torch.from_numpy(cu), int(np.diff(cu).max()))
    np.testing.assert_allclose(got.numpy(), hidden[:, 0].numpy(), atol=1e-5)


def test_packed_capacity_has_room_for_filler_sequences_and_few_shapes() -> None:
    shapes = set()
    for tokens, sequences in [(1, 1), (100, 3), (16_384, 800), (16_385, 2), (262_144, 10_000), (250_000, 125_000), (40_000, 1_500)]:
        capacity, slots = packed_capacity(tokens, sequences, 262_144)
        assert capacity >= tokens and capacity % (262_144 // TOKEN_STEPS) == 0
        assert slots >= sequences + -(-(capacity - tokens) // FILLER_LENGTH)
        shapes.add((capacity, slots))
    assert (262_144, 16_384) in shapes and (262_144, 131_072) in shapes
    ladder = packed_ladder(262_144)
    assert len(ladder) == TOKEN_STEPS and ladder[-1] == (262_144, 16_384)
    assert packed_capacity(40_000, 1_500, 262_144) in ladder  # 26.7 tokens per row: a ladder shape


def test_pack_lays_rows_end_to_end_and_fills_a_capacity() -> None:
    batch = TokenBatch.from_lists([[1, 2], [3], [4, 5, 6], [7, 8]])
    ids, cu = pack(batch, 1, 3)
    assert ids.tolist() == [3, 4, 5, 6] and cu.tolist() == [0, 1, 4]
    assert ids.dtype == np.int32 and cu.dtype == np.int32
    ids, cu = pack(batch, 1, 3, (140, 5), pad_id=0)
    assert ids[:4].tolist() == [3, 4, 5, 6] and (ids[4:] == 0).all() and len(ids) == 140
    assert cu.tolist() == [0, 1, 4, 4 + FILLER_LENGTH, 4 + 2 * FILLER_LENGTH, 140]
    with pytest.raises(ValueError, match="cannot pack"):
        pack(batch, 0, 4, (140, 4))


def test_plan_packed_keeps_order_and_budgets() -> None:
    lengths = np.array([5, 5, 5, 30, 2, 2, 2, 2])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    parts = list(plan_packed(offsets, 3, 12))
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 3), (3, 4), (4, 7), (7, 8)]


def test_out_of_memory_halves_a_packed_batch(packed: Launcher, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Runtime(packed.encoder, 64, 4096)
    expected = runtime.embed(TEXTS[:64])
    real = packed.launch_packed

    def fits_four(ids: np.ndarray, cu: np.ndarray, replay: bool = False):
        if len(cu) > 5:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real(ids, cu, replay)

    monkeypatch.setattr(packed, "launch_packed", fits_four)
    np.testing.assert_allclose(runtime.embed(TEXTS[:64]), expected, atol=1e-5)
    assert runtime.snapshot().oom_splits > 0


def test_packed_real_weights_match_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded all-MiniLM-L6-v2 (real weights) through the packed path agrees with ST's fp32 encode."""
    monkeypatch.setenv("SQLML_PACKED", "on")
    encoder = dataclasses.replace(load_encoder(None, device="cpu"))
    texts = [t for t in TEXTS[:60] if t] + ["The central bank raised interest rates by half a point on Thursday."]
    reference = encoder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert launcher_for(encoder).packs_tokens
    assert ((Runtime(encoder, 32, 1024).embed(texts) * reference).sum(axis=1) >= 0.9999).all()


@pytest.mark.parametrize(("capability", "dtype", "head_dim", "expected"), [
    ((9, 0), "float16", 32, True), ((8, 0), "bfloat16", 64, True), ((7, 5), "float16", 32, False),
    ((9, 0), "float32", 32, False), ((9, 0), "float16", 36, False), ((9, 0), "float16", 512, False),
])
def test_flash_kernel_only_where_it_runs(monkeypatch: pytest.MonkeyPatch, capability, dtype: str, head_dim: int, expected: bool) -> None:
    """Older GPUs (a T4 is 7.5), float32 and odd head sizes keep the padded path instead of failing."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert flash_supported("cuda:0", dtype, head_dim) is expected
    assert flash_supported("cpu", dtype, head_dim) is False


def test_a_failed_capture_ahead_is_a_warning_not_an_error(packed: Launcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(type(packed), "replays_packed_graphs", property(lambda self: True))
    calls = []

    def out_of_memory(*args, **kwargs):
        calls.append(args)
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(packed, "_launch_cuda", out_of_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    packed.capture_packed([(1024, 64), (2048, 128)])
    assert len(calls) == 1 and "batches capture as they come" in caplog.text
