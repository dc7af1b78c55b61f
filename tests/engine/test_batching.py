from __future__ import annotations

import numpy as np

from sqlml.engine.batching import pad, plan_batches


def test_plan_respects_rows_and_token_budget() -> None:
    lengths = np.array([10, 8, 8, 5, 3, 3, 2])
    parts = list(plan_batches(lengths, batch_size=3, max_batch_tokens=20))
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 4), (4, 7)]
    for p in parts:
        assert (p.stop - p.start) * lengths[p.start] <= 20


def test_plan_gives_an_overlong_row_its_own_batch() -> None:
    assert [(p.start, p.stop) for p in plan_batches(np.array([500, 4]), 8, 100)] == [(0, 1), (1, 2)]


def test_pad_builds_ids_and_mask() -> None:
    ids, mask = pad([[1, 2, 3], [4], []], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ids.dtype == np.int64 and mask.dtype == np.int64
