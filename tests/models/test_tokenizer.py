"""The fast (blingfire) tokenizer path gives exactly the model tokenizer's ids, or is not taken."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tokenizers

from sqlml.models.tokenizer import TextTokenizer, piece_count


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_model_dir: Path) -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))


def varied_texts(vocab: list[str], count: int, seed: int = 0) -> list[str]:
    """Sentences of vocabulary words, punctuation, digits, odd whitespace, control characters, accents,
    CJK, emoji, special-token text, overlong words and texts past the window (seeded)."""
    rng = random.Random(seed)
    printable = [chr(i) for i in range(32, 127)]
    odd = ["\t", "\n", "\r\n", "\x00", "\x07", "\x1b", "\x7f", "é", "ß", "£", "—", "“", "中", "😀", "\u00a0", "\u200b", "İ", "ﬁ"]
    pieces: list[str] = []
    texts = ["", " ", "\t\n", "a" * 100, "a" * 101, "1" * 150 + " tail", "[SEP] [cls] [unk]", "x" * 20_000, "word " * 3000]
    while len(texts) < count:
        pieces.clear()
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < 0.55:
                pieces.append(rng.choice(vocab).removeprefix("##") if r < 0.45 else rng.choice(vocab))
            elif r < 0.8:
                pieces.append("".join(rng.choice(printable) for _ in range(rng.randint(1, 8))))
            elif r < 0.85:
                pieces.append(rng.choice(odd))
            elif r < 0.9:
                pieces.append("".join(rng.choice(vocab).removeprefix("##") for _ in range(rng.randint(2, 12))))
            pieces.append(rng.choice([" ", " ", "", ", ", ". "]))
        texts.append("".join(pieces))
    return texts


def test_fast_path_equals_the_model_tokenizer_on_varied_text(bert_tokenizer: tokenizers.Tokenizer) -> None:
    fast, reference = TextTokenizer(bert_tokenizer, 256, fast=True), TextTokenizer(bert_tokenizer, 256, fast=False)
    assert fast.fast is not None and reference.fast is None
    vocab = list(json.loads(bert_tokenizer.to_str())["model"]["vocab"])
    texts = varied_texts(vocab, 3000)
    taken = len(texts) - len(fast.fast.rejected(texts))
    assert 0.2 * len(texts) < taken < len(texts)  # both paths are exercised
    got, expected = fast(texts), reference(texts)
    assert got.to_lists() == expected.to_lists()
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
    expected = tokenizer(texts).to_lists()
    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(tokenizer, [texts[i : i + 100] for i in range(0, len(texts), 100)]))
    assert [row for part in parts for row in part.to_lists()] == expected


def test_large_calls_from_many_threads_give_the_ids_of_one_call(bert_tokenizer: tokenizers.Tokenizer) -> None:
    tokenizer = TextTokenizer(bert_tokenizer, 128, fast=True)
    texts = varied_texts(list(json.loads(bert_tokenizer.to_str())["model"]["vocab"]), 4800, seed=2)
    expected = [TextTokenizer(bert_tokenizer, 128, fast=False)(texts[i : i + 600]).to_lists() for i in range(0, len(texts), 600)]
    with ThreadPoolExecutor(8) as pool:  # calls over PARALLEL_ROWS texts, pieces or not as callers come and go
        parts = list(pool.map(tokenizer, [texts[i : i + 600] for i in range(0, len(texts), 600)]))
    assert [part.to_lists() for part in parts] == expected


def test_a_call_is_cut_into_this_callers_share_of_the_cores() -> None:
    assert piece_count(2048, callers=1, cores=16) == 4  # at least PARALLEL_ROWS texts per piece
    assert piece_count(100_000, callers=1, cores=16) == 16
    assert piece_count(100_000, callers=4, cores=16) == 4
    assert piece_count(100_000, callers=16, cores=16) == 1  # every core has a caller: no pool hand-offs
    assert piece_count(100_000, callers=40, cores=16) == 1
    assert piece_count(10, callers=1, cores=16) == 1


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
    assert TextTokenizer(other_vocabulary, 256)(["the market"]).to_lists() == [other_vocabulary.encode("the market").ids]

    monkeypatch.setenv("SQLML_FAST_TOKENIZER", "0")
    assert TextTokenizer(bert_tokenizer, 256).fast is None
