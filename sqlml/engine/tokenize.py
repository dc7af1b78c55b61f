"""One large tokenize call spread over the shared ``tokenize`` thread pool, in this caller's share of the cores.

A model's tokenizer (:mod:`sqlml.models.tokenizer`) runs a call in the caller's thread. With the blingfire
fast path that is one core, so a call on more than :data:`PARALLEL_ROWS` texts is cut into pieces that
the pool's threads tokenize (the model tokenizer's ``encode_batch`` spreads over cores on its own, so
without the fast path a call stays whole). A DuckDB query whose input has one row group calls the UDF
from one thread, chunk after chunk: this is what puts the other cores to work there. Only cores no other
caller uses are shared out (:func:`piece_count`): when DuckDB's threads call at once, each tokenizes its
own texts, since every piece costs GIL hand-offs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlml.engine.pools import shared_pool
from sqlml.models.tokenizer import TextTokenizer
from sqlml.models.tokens import TokenBatch

#: Texts per piece when a large call is spread over threads.
PARALLEL_ROWS = 512


class Tokenizes(Protocol):
    """What :func:`tokenize` needs of a model: its tokenizer's nature and its single-threaded ``tokenize``."""

    tokenizer: TextTokenizer

    def tokenize(self, texts: list[str]) -> TokenBatch:
        """Token ids per text, in the calling thread; thread-safe."""


def tokenize(model: Tokenizes, texts: list[str]) -> TokenBatch:
    """``model.tokenize(texts)``, cut into pieces tokenized on the shared pool when that pays (see the
    module docstring). Same ids, in order. ``texts`` must not contain ``None``."""
    if model.tokenizer.spreads_over_cores or len(texts) <= PARALLEL_ROWS:
        return model.tokenize(texts)
    with _caller() as callers:
        pieces = piece_count(len(texts), callers)
        if pieces == 1:
            return model.tokenize(texts)
        size = -(-len(texts) // pieces)
        return TokenBatch.concat(list(shared_pool("tokenize").map(model.tokenize, [texts[i : i + size] for i in range(0, len(texts), size)])))


def piece_count(texts: int, callers: int, cores: int | None = None) -> int:
    """Pieces to cut a call of ``texts`` texts into while ``callers`` calls (this one included) run.

    At least ``PARALLEL_ROWS`` texts per piece, and this call's share of the cores: ``cores // callers``,
    at least 1. Why the share: beside busy Python threads every piece gives up and takes back the GIL a
    few dozen times, so cutting each of several concurrent calls into as many pieces as there are cores
    is several times slower than giving each call its share.
    """
    cores = cores if cores is not None else os.cpu_count() or 1
    return max(1, min(-(-texts // PARALLEL_ROWS), cores // max(callers, 1)))


_callers = 0
_lock = threading.Lock()


@contextmanager
def _caller() -> Iterator[int]:
    """Count this thread among the tokenize callers while inside; yields the count, itself included."""
    global _callers
    with _lock:
        _callers += 1
        count = _callers
    try:
        yield count
    finally:
        with _lock:
            _callers -= 1
