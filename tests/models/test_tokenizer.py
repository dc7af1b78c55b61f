"""The fast (blingfire) tokenizer path gives exactly the model tokenizer's ids, or is not taken."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tokenizers

from sqlml.models.tokenizer import TextTokenizer
from tests.support.tokens import to_lists, varied_texts


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_model_dir: Path) -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))


def test_fast_path_equals_the_model_tokenizer_on_varied_text(bert_tokenizer: tokenizers.Tokenizer) -> None:
    fast, reference = TextTokenizer(bert_tokenizer, 256, fast=True), TextTokenizer(bert_tokenizer, 256, fast=False)
    assert fast.fast is not None and reference.fast is None
    vocab = list(json.loads(bert_tokenizer.to_str())["model"]["vocab"])
    texts = varied_texts(vocab, 3000)
    taken = len(texts) - len(fast.fast.rejected(texts))
    assert 0.2 * len(texts) < taken < len(texts)  # both paths are exercised
    got, expected = fast(texts), reference(texts)
    assert to_lists(got) == to_lists(expected)
    assert max(got.lengths) == 256  # truncation at the window, [SEP] included


def test_a_fast_call_that_does_not_cut_into_one_piece_per_text_gives_way(bert_tokenizer: tokenizers.Tokenizer) -> None:
    tokenizer = TextTokenizer(bert_tokenizer, 256, fast=True)
    assert tokenizer.fast is not None
    assert tokenizer.fast.encode(["x \ue000 y", "z"]) is None  # the separator inside a text: one cut too many
    assert tokenizer.fast.rejected(["x \ue000 y", "z"]) == [0]  # which is why such a text never goes that way
    assert len(tokenizer([])) == 0


def test_fast_path_is_thread_safe(bert_tokenizer: tokenizers.Tokenizer) -> None:
    tokenizer = TextTokenizer(bert_tokenizer, 128, fast=True)
    texts = varied_texts(list(json.loads(bert_tokenizer.to_str())["model"]["vocab"]), 1600, seed=1)
    expected = to_lists(tokenizer(texts))
    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(tokenizer, [texts[i : i + 100] for i in range(0, len(texts), 100)]))
    assert [row for part in parts for row in to_lists(part)] == expected


def edited(tokenizer: tokenizers.Tokenizer, change) -> tokenizers.Tokenizer:  # type: ignore[no-untyped-def]
    spec = json.loads(tokenizer.to_str())
    change(spec)
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


def test_fast_path_is_refused_for_other_tokenizers(bert_tokenizer: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    cased = edited(bert_tokenizer, lambda s: s["normalizer"].update(lowercase=False))
    assert TextTokenizer(cased, 256).fast is None

    def swap_two_words(spec: dict) -> None:  # type: ignore[type-arg]
        vocab = spec["model"]["vocab"]
        vocab["market"], vocab["river"] = vocab["river"], vocab["market"]

    other_vocabulary = edited(bert_tokenizer, swap_two_words)
    assert TextTokenizer(other_vocabulary, 256).fast is None
    other_vocabulary.no_padding()
    assert to_lists(TextTokenizer(other_vocabulary, 256)(["the market"])) == [other_vocabulary.encode("the market").ids]

    monkeypatch.setenv("SQLML_FAST_TOKENIZER", "0")
    assert TextTokenizer(bert_tokenizer, 256).fast is None
