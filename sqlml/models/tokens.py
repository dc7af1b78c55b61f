"""Token ids of many texts in flat numpy buffers (no Python list per row), and their padding.

How rows are laid end to end for the packed forward pass is batch planning, in the engine
(``engine/batching.py``: ``pack``)."""

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
