"""Embedding: texts in, fixed-size float32 vectors out. Engine-agnostic (no DuckDB, no click, no Ray).

NULL behaviour: a null text gives a null vector in Arrow/polars output and a row of NaN in numpy
output. Empty and whitespace-only texts are embedded like any text (their tokens are only the model's
special tokens), exactly as ``SentenceTransformer.encode`` does. Texts longer than the model's
``max_seq_length`` (256 tokens for the default model) are truncated. Vectors are L2-normalised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Literal

import numpy as np
import pyarrow as pa

from sqlml import progress
from sqlml.engine.cache import EmbeddingCache
from sqlml.engine.runtime import AnyRuntime
from sqlml.ops.inputs import unique_index, valid_strings

#: Rows handed to the runtime per request by the Python API and the CLI.
CHUNK_ROWS = 8192
#: Requests kept in flight: the caller tokenizes chunk i+1 while the worker runs chunk i.
IN_FLIGHT = 4

Output = Literal["numpy", "arrow", "polars"]


def embed_strings(
    values: list[str], runtime: AnyRuntime, bar: progress.Progress | None = None, cache: EmbeddingCache | None = None
) -> np.ndarray:
    """Embed non-null strings; duplicates are computed once. Returns ``float32 (len(values), d)``.

    With ``cache`` (see :mod:`sqlml.engine.cache`), texts already cached for this model are read from
    it and only the rest go to the model; new vectors are written back.
    """
    uniques, index = unique_index(values)
    if cache is not None:
        vectors = _embed_cached(uniques, runtime, bar, cache)
    else:
        vectors = _embed_uniques(uniques, runtime, bar)
    return vectors if index is None else vectors[np.asarray(index, dtype=np.int64)]


def _embed_cached(uniques: list[str], runtime: AnyRuntime, bar: progress.Progress | None, cache: EmbeddingCache) -> np.ndarray:
    model = runtime
    found, vectors = cache.lookup(model, uniques, model.dimension)
    if bar is not None:
        bar.update(int(found.sum()))
    missing = np.flatnonzero(~found)
    if len(missing):
        texts = [uniques[i] for i in missing]

        def keep(start: int, stop: int, chunk: np.ndarray) -> None:
            # stored chunk by chunk: a long run that dies halfway keeps what it computed
            cache.store(model, texts[start:stop], chunk)

        vectors[missing] = _embed_uniques(texts, runtime, bar, keep)
    return vectors


def _embed_uniques(
    uniques: list[str],
    runtime: AnyRuntime,
    bar: progress.Progress | None,
    on_chunk: Callable[[int, int, np.ndarray], None] | None = None,
) -> np.ndarray:
    vectors = np.empty((len(uniques), runtime.dimension), dtype=np.float32)
    pending: deque[tuple[int, int, Future[np.ndarray]]] = deque()
    for start in range(0, len(uniques), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(uniques))
        pending.append((start, stop, runtime.submit(uniques[start:stop])))
        if len(pending) >= IN_FLIGHT:
            _collect(pending.popleft(), vectors, bar, on_chunk)
    while pending:
        _collect(pending.popleft(), vectors, bar, on_chunk)
    return vectors


def _collect(
    item: tuple[int, int, Future[np.ndarray]],
    vectors: np.ndarray,
    bar: progress.Progress | None,
    on_chunk: Callable[[int, int, np.ndarray], None] | None,
) -> None:
    start, stop, future = item
    vectors[start:stop] = future.result()
    if on_chunk is not None:
        on_chunk(start, stop, vectors[start:stop])
    if bar is not None:
        bar.update(stop - start)


def embed_array(
    texts: pa.StringArray, runtime: AnyRuntime, bar: progress.Progress | None = None, cache: EmbeddingCache | None = None
) -> pa.FixedSizeListArray:
    """Embed an Arrow string array into ``FixedSizeList<float32, d>``; null in → null out, order kept."""
    values, nulls = valid_strings(texts)
    dim = runtime.dimension
    dense = embed_strings(values, runtime, bar, cache)
    if nulls is None:
        return pa.FixedSizeListArray.from_arrays(pa.array(dense.reshape(-1)), dim)
    full = np.zeros((len(texts), dim), dtype=np.float32)
    full[~nulls.to_numpy(zero_copy_only=False)] = dense
    return pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), dim, mask=nulls)

