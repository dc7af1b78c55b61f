from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import sqlml
from sqlml.errors import InvalidArgumentError

EDGE_TEXTS = ["hello world", "", "   ", "Ünïcödé 東京 🙂 مرحبا", "A long text. " * 300, "Past the prefix cut. " * 2000, "  leading space", "tab\tand\nnewline"]


def test_matches_sentence_transformers_on_the_default_model() -> None:
    from sentence_transformers import SentenceTransformer

    from sqlml.models.registry import default_model_dir

    reference = SentenceTransformer(str(default_model_dir()), device="cpu").encode(EDGE_TEXTS, normalize_embeddings=True)
    ours = sqlml.embed(EDGE_TEXTS, device="cpu")
    cosine = (reference * ours).sum(axis=1) / np.linalg.norm(reference, axis=1) / np.linalg.norm(ours, axis=1)
    assert ours.shape == (len(EDGE_TEXTS), 384)
    assert cosine.min() >= 0.999


def test_vectors_are_unit_length(tiny_model_dir: Path) -> None:
    vectors = sqlml.embed(["a", "b c d"], model=str(tiny_model_dir), device="cpu")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_whitespace_only_equals_empty(tiny_model_dir: Path) -> None:
    empty, spaces = sqlml.embed(["", "   \n"], model=str(tiny_model_dir), device="cpu")
    np.testing.assert_allclose(empty, spaces, atol=1e-6)


def test_nulls_by_output_type(tiny_model_dir: Path) -> None:
    kwargs = {"model": str(tiny_model_dir), "device": "cpu"}
    dense = sqlml.embed(["a", None, "b"], **kwargs)
    assert np.isnan(dense[1]).all() and not np.isnan(dense[[0, 2]]).any()
    arrow = sqlml.embed(pa.array(["a", None, "b"]), output="arrow", **kwargs)
    assert arrow.type == pa.list_(pa.float32(), 32) and arrow.null_count == 1 and arrow[1].as_py() is None
    series = sqlml.embed(pl.Series(["a", None]), output="polars", **kwargs)
    assert series.dtype == pl.Array(pl.Float32, 32) and series.null_count() == 1


def test_duplicates_are_embedded_once_and_returned_everywhere(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime

    runtime = get_runtime(str(tiny_model_dir), "cpu")
    before = runtime.snapshot().rows
    vectors = sqlml.embed(["same", "same", "other", "same"], model=str(tiny_model_dir), device="cpu")
    assert runtime.snapshot().rows - before == 2
    np.testing.assert_array_equal(vectors[0], vectors[3])


def test_rejects_non_text_input() -> None:
    with pytest.raises(InvalidArgumentError, match=r"texts must contain strings or None; found int 3"):
        sqlml.embed(["a", 3])
    with pytest.raises(InvalidArgumentError, match=r"texts must be a list of strings, not one string; wrap it: \['abc'\]"):
        sqlml.embed("abc")
    with pytest.raises(InvalidArgumentError, match=r"output must be 'numpy', 'arrow' or 'polars', not 'pandas'"):
        sqlml.embed(["a"], output="pandas")


def test_long_texts_tokenize_from_a_prefix_with_the_same_tokens(tiny_model_dir: Path) -> None:
    from sqlml.models.registry import load_encoder
    from tests.support.tokens import to_lists

    encoder = load_encoder(str(tiny_model_dir), device="cpu")
    long_text = "Markets rallied today, and the café owner said “prices rose 3.5%”. " * 20_000  # ~1.3 MB
    one_word = "x" * 100_000 + " end"  # no whitespace in the window: the whole text is tokenized
    spaces = " " * 50_000 + "few words"  # the prefix holds no tokens: the whole text is tokenized
    full = [e.ids for e in encoder.tokenizer.hf.encode_batch([long_text, one_word, spaces], add_special_tokens=True)]
    assert to_lists(encoder.tokenize([long_text, one_word, spaces])) == full
    assert len(full[0]) == encoder.max_seq_length
