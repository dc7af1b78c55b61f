"""Embedding texts for classification: texts longer than the model window become a mean of sentence chunks.

The default model reads 256 tokens; embedding a news article by truncation ignores most of it. Here a
longer text is split into sentences (:mod:`sqlml.ops.sentences`), consecutive sentences are packed into
chunks that fit the window, every chunk is embedded, and the text's vector is the normalised mean of its
chunk vectors (``docs/classify.md``: +1 to +2.4 points of zero-shot accuracy on BBC News). Engine-agnostic.
"""

from __future__ import annotations

import numpy as np

from sqlml import progress
from sqlml.engine.runtime import AnyRuntime
from sqlml.ops.embed import embed_strings


def chunk_text(text: str, runtime: AnyRuntime, budget: int) -> list[str]:
    """Split ``text`` into consecutive sentence groups of at most ``budget`` tokens each (with special
    tokens; a longer single sentence forms its own chunk and is truncated by the model)."""
    from sqlml.ops.sentences import split_sentences

    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return [text]
    lengths = (runtime.token_lengths([s.text for s in sentences]) - 2).tolist()  # minus [CLS]/[SEP]
    chunks: list[str] = []
    start, used = 0, 0
    for i, n in enumerate(lengths):
        if i > start and used + n > budget - 2:
            chunks.append(text[sentences[start].start : sentences[i - 1].end])
            start, used = i, 0
        used += n
    chunks.append(text[sentences[start].start : sentences[-1].end])
    return chunks


def pieces_of(values: list[str], runtime: AnyRuntime) -> list[list[str]]:
    """Each text as the pieces it is embedded as: itself when it fits the model window, else its sentence-aligned
    chunks (:func:`chunk_text`)."""
    budget = runtime.max_seq_length
    # A token covers at least one UTF-8 byte, so only texts with more bytes than the window can overflow it;
    # tokenizing just those keeps the extra pass off short texts (if a tokenizer broke the rule, a text just
    # over the window would be truncated, as embed() does).
    maybe_long = [i for i, text in enumerate(values) if len(text.encode("utf-8")) > budget - 4]
    # the runtime's tokenizer truncates at the window, so a full-length row is the sign of a longer text
    lengths = runtime.token_lengths([values[i] for i in maybe_long])
    long_rows = {i for i, n in zip(maybe_long, lengths.tolist(), strict=True) if n >= budget}
    return [chunk_text(text, runtime, budget) if row in long_rows else [text] for row, text in enumerate(values)]


def text_vectors(values: list[str], runtime: AnyRuntime, bar: progress.Progress | None = None) -> np.ndarray:
    """Embed non-null strings for classification: ``float32 (len(values), d)``, L2-normalised.

    Texts that fit the model window are embedded as they are; longer ones are embedded as the
    normalised mean of their sentence-aligned chunks. Every chunk of every text goes to one
    :func:`embed_strings` call, so the runtime batches them together; ``bar`` counts the distinct chunks embedded.
    """
    owners: list[int] = []
    pieces: list[str] = []
    for row, chunks in enumerate(pieces_of(values, runtime)):
        pieces.extend(chunks)
        owners.extend([row] * len(chunks))
    vectors = embed_strings(pieces, runtime, bar)
    if len(pieces) == len(values):
        return vectors
    summed = np.zeros((len(values), vectors.shape[1]), dtype=np.float32)
    np.add.at(summed, np.asarray(owners, dtype=np.int64), vectors)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return summed / np.maximum(norms, 1e-12)
