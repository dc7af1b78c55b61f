from __future__ import annotations

import numpy as np

from sqlml.engine.batching import plan_batches
from sqlml.models.tokens import TokenBatch


def test_plan_respects_rows_and_token_budget() -> None:
    lengths = np.array([10, 8, 8, 5, 3, 3, 2])
    parts = list(plan_batches(lengths, batch_size=3, max_batch_tokens=20))
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 4), (4, 7)]
    for p in parts:
        assert (p.stop - p.start) * lengths[p.start] <= 20


def test_plan_gives_an_overlong_row_its_own_batch() -> None:
    assert [(p.start, p.stop) for p in plan_batches(np.array([500, 4]), 8, 100)] == [(0, 1), (1, 2)]


def test_pad_builds_ids_and_mask_for_the_rows_asked() -> None:
    tokens = TokenBatch.from_lists([[1, 2, 3], [4], [], [5, 6]])
    ids, mask = tokens.pad(np.array([0, 1, 2]), pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert tokens.pad(np.array([3, 1]), pad_id=9)[0].tolist() == [[5, 6], [4, 9]]


def test_token_batches_concatenate_and_reorder_without_lists() -> None:
    a = TokenBatch.from_lists([[1, 2], []])
    b = TokenBatch.from_padded(np.array([[7, 8, 9], [5, 0, 0]], dtype=np.int32), np.array([3, 1]))
    both = TokenBatch.concat([a, b])
    assert both.to_lists() == [[1, 2], [], [7, 8, 9], [5]]
    assert both.lengths.tolist() == [2, 0, 3, 1]
    assert both.take(np.array([3, 0, 2, 1])).to_lists() == [[5], [1, 2], [7, 8, 9], []]
    assert len(TokenBatch.concat([])) == 0
