"""The embedding runtime's round counters around a benchmark pass: where a SQL pass's requests spent their time."""

from __future__ import annotations


def runtime_counters() -> dict[str, int]:
    """The embedding runtimes' counters (``sqlml.engine.runtime.RuntimeStats``), summed."""
    from sqlml.engine.runtime import all_runtimes

    total: dict[str, int] = {}
    for runtime in all_runtimes():
        for name, value in vars(runtime.snapshot()).items():
            total[name] = total.get(name, 0) + value
    return total


def round_summary(before: dict[str, int], after: dict[str, int], wall: float) -> dict[str, float]:
    """Where a SQL pass's requests spent their time: rows per round, the mean wait of a request (after
    tokenization) before its round started, the mean round, and the worker's busy share of the wall time."""
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    rounds, requests = max(delta.get("rounds", 0), 1), max(delta.get("requests", 0), 1)
    return {
        "rounds": delta.get("rounds", 0),
        "rows_per_round": delta.get("rows", 0) / rounds,
        "queue_wait_ms_per_request": delta.get("queue_wait_us", 0) / requests / 1e3,
        "round_ms": delta.get("round_us", 0) / rounds / 1e3,
        "worker_busy_share": delta.get("round_us", 0) / 1e6 / wall,
    }
