"""A large tokenize call spread over the shared pool gives the ids of one call, in this caller's share of the cores."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import tokenizers

from sqlml.engine import tokenize as spread
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch
from tests.support.tokens import to_lists, varied_texts


@dataclass
class Model:
    """The part of a model :func:`sqlml.engine.tokenize.tokenize` uses; counts its ``tokenize`` calls."""

    tokenizer: TextTokenizer
    calls: int = 0

    def tokenize(self, texts: list[str]) -> TokenBatch:
        self.calls += 1
        return self.tokenizer(texts)


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_model_dir: Path) -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))


def vocabulary(tokenizer: tokenizers.Tokenizer) -> list[str]:
    return list(json.loads(tokenizer.to_str())["model"]["vocab"])


def test_large_calls_from_many_threads_give_the_ids_of_one_call(bert_tokenizer: tokenizers.Tokenizer) -> None:
    model = Model(TextTokenizer(bert_tokenizer, 128, fast=True))
    texts = varied_texts(vocabulary(bert_tokenizer), 4800, seed=2)
    expected = [to_lists(TextTokenizer(bert_tokenizer, 128, fast=False)(texts[i : i + 600])) for i in range(0, len(texts), 600)]
    with ThreadPoolExecutor(8) as pool:  # calls over PARALLEL_ROWS texts, pieces or not as callers come and go
        parts = list(pool.map(lambda chunk: spread.tokenize(model, chunk), [texts[i : i + 600] for i in range(0, len(texts), 600)]))
    assert [to_lists(part) for part in parts] == expected


def test_one_large_call_is_cut_into_pieces_only_with_the_fast_path(bert_tokenizer: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spread.os, "cpu_count", lambda: 4)
    texts = varied_texts(vocabulary(bert_tokenizer), 2048, seed=3)
    fast = Model(TextTokenizer(bert_tokenizer, 128, fast=True))
    assert to_lists(spread.tokenize(fast, texts)) == to_lists(fast.tokenizer(texts))
    assert fast.calls == 4  # 2,048 texts: 4 pieces of 512
    plain = Model(TextTokenizer(bert_tokenizer, 128, fast=False))  # encode_batch spreads over cores itself
    assert spread.tokenize(plain, texts).lengths.tolist() == fast.tokenizer(texts).lengths.tolist()
    assert plain.calls == 1
    assert len(spread.tokenize(fast, [])) == 0


def test_a_call_is_cut_into_this_callers_share_of_the_cores() -> None:
    assert spread.piece_count(2048, callers=1, cores=16) == 4  # at least PARALLEL_ROWS texts per piece
    assert spread.piece_count(100_000, callers=1, cores=16) == 16
    assert spread.piece_count(100_000, callers=4, cores=16) == 4
    assert spread.piece_count(100_000, callers=16, cores=16) == 1  # every core has a caller: no pool hand-offs
    assert spread.piece_count(100_000, callers=40, cores=16) == 1
    assert spread.piece_count(10, callers=1, cores=16) == 1
