"""Token ids of many texts in flat numpy buffers (no Python list per row), and their padding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TokenBatch:
    """Ragged token ids: row ``i`` is ``ids[offsets[i]:offsets[i + 1]]``.

    ``ids``: ``int32 (total,)``; ``offsets``: ``int64 (rows + 1,)``, starting at 0, non-decreasing.
    """

    ids: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> TokenBatch:
        """From one id list per row."""
        offsets = offsets_of(np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows)))
        ids = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1]))
        return cls(ids, offsets)

    @classmethod
    def from_padded(cls, padded: np.ndarray, lengths: np.ndarray) -> TokenBatch:
        """From a ``(rows, width)`` matrix whose row ``i`` holds ``lengths[i]`` ids, left-aligned."""
        keep = np.arange(padded.shape[1])[None, :] < lengths[:, None]
        return cls(np.ascontiguousarray(padded[keep], dtype=np.int32), offsets_of(lengths))

    @classmethod
    def concat(cls, parts: Sequence[TokenBatch]) -> TokenBatch:
        """The rows of ``parts`` one after another."""
        if len(parts) == 1:
            return parts[0]
        ids = np.concatenate([p.ids for p in parts]) if parts else np.empty(0, dtype=np.int32)
        lengths = np.concatenate([p.lengths for p in parts]) if parts else np.empty(0, dtype=np.int64)
        return cls(ids, offsets_of(lengths))

    @classmethod
    def in_order(cls, parts: Sequence[tuple[Sequence[int], TokenBatch]]) -> TokenBatch:
        """Rows tokenized in groups, back in row order: each part is (the row numbers, their batch), and
        the parts' row numbers together are ``0 .. rows - 1``."""
        positions = np.concatenate([np.asarray(rows, dtype=np.int64) for rows, _ in parts])
        return cls.concat([batch for _, batch in parts]).take(np.argsort(positions, kind="stable"))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """``int64 (rows,)``: ids per row."""
        return np.diff(self.offsets)

    def row(self, i: int) -> list[int]:
        """Row ``i`` as a list of ints."""
        return self.ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def to_lists(self) -> list[list[int]]:
        """Every row as a list of ints."""
        return [self.row(i) for i in range(len(self))]

    def take(self, rows: np.ndarray) -> TokenBatch:
        """The rows ``rows`` (indices), in that order."""
        starts, lengths = self._spans(rows)
        return TokenBatch(self.ids[gather_index(starts, lengths)], offsets_of(lengths))

    def pad(self, rows: np.ndarray, pad_id: int, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``rows`` (indices), right-padded: ``(input_ids, attention_mask)``, both ``int64``.

        Shape ``(len(rows), longest)``, or ``shape`` (at least that large): rows past ``len(rows)`` are
        filler (``pad_id``, attending to their first position only, so they compute finite values).
        """
        starts, lengths = self._spans(rows)
        longest = int(lengths.max()) if len(lengths) else 0
        height, width = shape if shape is not None else (len(rows), longest)
        if height < len(rows) or width < longest:
            raise ValueError(f"cannot pad {len(rows)} rows of up to {longest} tokens to shape {shape}")
        lengths = np.concatenate([lengths, np.ones(height - len(rows), dtype=np.int64)])
        mask = np.arange(width, dtype=np.int64)[None, :] < lengths[:, None]
        ids = np.full((height, width), pad_id, dtype=np.int64)
        ids[: len(rows)][mask[: len(rows)]] = self.ids[gather_index(starts, lengths[: len(rows)])]  # row-major order of ``mask``
        return ids, mask.astype(np.int64)

    def packed(self, start: int, stop: int, capacity: tuple[int, int] | None = None, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``start .. stop - 1`` laid end to end: ``(ids, cu)``, ``int32 (tokens,)`` and ``int32
        (sequences + 1,)`` (the running sum of their lengths, from 0).

        ``capacity``: ``(tokens, sequences)`` to fill (:func:`sqlml.engine.cuda.graphs.packed_capacity`): the
        ids past the real ones are ``pad_id`` in filler sequences of at most ``FILLER_LENGTH`` tokens, and
        the sequences past those are empty (``cu`` repeats its last value).
        """
        from sqlml.engine.cuda.graphs import FILLER_LENGTH, filler_sequences

        first, last = int(self.offsets[start]), int(self.offsets[stop])
        bounds = self.offsets[start : stop + 1] - first
        if capacity is None:
            return self.ids[first:last].astype(np.int32, copy=False), bounds.astype(np.int32)
        tokens, sequences = capacity
        used = last - first
        if tokens < used or sequences < stop - start + filler_sequences(used, tokens):
            raise ValueError(f"cannot pack {stop - start} rows of {used} tokens into capacity {capacity}")
        ids = np.full(tokens, pad_id, dtype=np.int32)
        ids[:used] = self.ids[first:last]
        cu = np.full(sequences + 1, tokens, dtype=np.int32)
        cu[: stop - start + 1] = bounds
        filler = np.arange(used + FILLER_LENGTH, tokens, FILLER_LENGTH, dtype=np.int32)
        cu[stop - start + 1 : stop - start + 1 + len(filler)] = filler
        return ids, cu

    def _spans(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = self.offsets[rows]
        return starts, self.offsets[rows + 1] - starts


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """``int64 (len(lengths) + 1,)``: 0, then the running sum of ``lengths``."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions ``starts[0] .. starts[0]+lengths[0]-1, starts[1] ..``, one flat ``int64`` array."""
    before = np.cumsum(lengths) - lengths  # where each row begins in the output
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
