"""Process-wide counters in one listing: :func:`stats` (Python) behind ``sqlml_stats()`` (SQL).

Rows are ``{component, name, metric, reason, value}``:

* ``component='function'``, ``name`` a public function (``embed``, ``summarize``, ...): ``calls``, ``rows``
  (rows processed) and ``failed_rows`` per ``reason`` (the exception type) under ``on_error='null'``;
* ``component='runtime'``, ``name`` ``model@device``: the inference worker's ``requests``, ``rows``,
  ``batches``, ``tokens``, ``padded_tokens``, ``oom_splits`` (a batch halved after out-of-memory),
  ``failed_rounds``, ``rounds``, ``queue_wait_us`` (µs requests waited for their round, summed) and
  ``round_us`` (µs the worker spent running rounds);
* ``component='cache'``, ``name`` the cache file: embedding cache ``hits``, ``misses``, ``writes``,
  ``evicted``, ``resets`` and ``errors``.

Counters start at zero when the process starts (or the runtime or cache is first used) and only grow.
"""

from __future__ import annotations

from typing import Any

STAT_FIELDS = ("component", "name", "metric", "reason", "value")


def stats() -> list[dict[str, Any]]:
    """Every counter of this process, as dicts with the keys of :data:`STAT_FIELDS`."""
    from sqlml.engine.cache import opened_caches
    from sqlml.engine.runtime import all_runtimes
    from sqlml.on_error import failure_counts

    rows: list[dict[str, Any]] = [
        {"component": "function", "name": c["function"], "metric": c["metric"], "reason": c["reason"], "value": c["value"]}
        for c in failure_counts()
    ]
    for runtime in all_runtimes():
        encoder = runtime.encoder
        ref = getattr(encoder, "ref", None)  # embedding encoders have a ModelRef; HF classifiers a path
        name = f"{ref.name if ref is not None else getattr(encoder, 'path', '?')}@{encoder.device}"
        for metric, value in vars(runtime.snapshot()).items():
            rows.append({"component": "runtime", "name": name, "metric": metric, "reason": None, "value": int(value)})
    for path, cache in opened_caches():
        for metric, value in vars(cache.stats).items():
            rows.append({"component": "cache", "name": str(path), "metric": metric, "reason": None, "value": int(value)})
    return rows
