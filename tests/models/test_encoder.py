"""The encoder's forward pass: the ready-made 4-D padding mask gives the plain forward's vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sqlml.models.registry import load_encoder

TEXTS = ["Rates rose.", "The central bank raised interest rates again on Tuesday, surprising markets.", "x", ""]


def _padded(encoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return encoder.tokenize(texts).pad(np.arange(len(texts)), encoder.pad_id)


def test_prepared_mask_gives_the_plain_forward(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), device="cpu")
    assert encoder._prepared_mask  # a BERT with SDPA attention takes the 4-D mask
    ids, mask = _padded(encoder, TEXTS)
    assert (mask == 0).any()  # rows of different lengths: padding is masked
    prepared = encoder.forward(ids, mask)
    encoder._prepared_mask = False
    try:
        plain = encoder.forward(ids, mask)
    finally:
        encoder._prepared_mask = True
    np.testing.assert_allclose(prepared, plain, atol=1e-6)


def test_forward_equals_sentence_transformers_encode(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), device="cpu")
    ids, mask = _padded(encoder, TEXTS)
    reference = encoder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encoder.forward(ids, mask), reference, atol=1e-5)
