from __future__ import annotations

import numpy as np

from sqlml.engine.batching import bucket_length, bucket_rows, plan_batches
from sqlml.models.tokens import TokenBatch
from tests.support.tokens import from_padded, to_lists


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
    b = from_padded(np.array([[7, 8, 9], [5, 0, 0]], dtype=np.int32), np.array([3, 1]))
    both = TokenBatch.concat([a, b])
    assert to_lists(both) == [[1, 2], [], [7, 8, 9], [5]]
    assert both.lengths.tolist() == [2, 0, 3, 1]
    assert to_lists(both.take(np.array([3, 0, 2, 1]))) == [[5], [1, 2], [7, 8, 9], []]
    assert len(TokenBatch.concat([])) == 0


def test_pad_to_a_larger_shape_adds_filler_rows_that_attend_to_one_position() -> None:
    tokens = TokenBatch.from_lists([[1, 2, 3], [4]])
    ids, mask = tokens.pad(np.array([1, 0]), pad_id=0, shape=(4, 5))
    assert ids.tolist() == [[4, 0, 0, 0, 0], [1, 2, 3, 0, 0], [0] * 5, [0] * 5]
    assert mask.tolist() == [[1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]]


def test_pad_refuses_a_shape_smaller_than_the_rows() -> None:
    import pytest

    with pytest.raises(ValueError, match="cannot pad"):
        TokenBatch.from_lists([[1, 2, 3]]).pad(np.array([0]), pad_id=0, shape=(1, 2))


def test_length_buckets_are_few_and_never_shorter_than_the_row() -> None:
    lengths = np.arange(1, 257)
    buckets = bucket_length(lengths, max_len=256)
    assert set(buckets.tolist()) == {16, 24, 32, 48, 64, 96, 128, 192, 256}
    assert (buckets >= lengths).all() and (buckets <= np.maximum(16, 1.5 * lengths)).all()
    assert bucket_length(np.array([100, 130]), max_len=128).tolist() == [128, 130]  # never below the row itself


def test_row_buckets_keep_full_batches_and_pad_others_at_most_twofold() -> None:
    assert bucket_rows(5461, 5461) == 5461
    assert bucket_rows(3000, 5461) == 5461
    assert bucket_rows(2000, 5461) == 2731
    assert bucket_rows(3, 5461) == 64  # a small batch: the next power of two, at least 64
    sizes = {bucket_rows(rows, 5461) for rows in range(1, 5462)}
    assert len(sizes) <= 8  # few shapes: each costs a CUDA graph capture
    assert all(rows <= bucket_rows(rows, 5461) <= max(64, 2 * rows) for rows in range(1, 5462))
