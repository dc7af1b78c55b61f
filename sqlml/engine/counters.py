"""Process-wide counters in one listing: :func:`stats` (Python) behind ``sqlml_stats()`` (SQL).

Rows are ``{component, name, metric, reason, value}``:

* ``component='function'``, ``name`` a public function (``embed``, ``summarize``, ...): ``calls``, ``rows``
  (rows processed) and ``failed_rows`` per ``reason`` (the exception type) under ``on_error='null'``;
* ``component='runtime'``, ``name`` ``model@device``: the inference worker's ``requests``, ``rows``,
  ``batches``, ``tokens``, ``padded_tokens``, ``oom_splits`` (a batch halved after out-of-memory),
  ``failed_rounds``, ``rounds``, ``queue_wait_us`` (µs requests waited for their round, summed) and
  ``round_us`` (µs the worker spent running rounds);
* ``component='cache'``, ``name`` the cache file: embedding cache ``hits``, ``misses``, ``writes``,
  ``evicted``, ``resets`` and ``errors``;
* faults of an optional part, per ``reason``: ``component='onnx'``, ``name`` a model, ``fallbacks`` (its one-query
  batches stay on torch: :mod:`sqlml.models.onnx_forward`).

Counters start at zero when the process starts (or the runtime or cache is first used) and only grow.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

STAT_FIELDS = ("component", "name", "metric", "reason", "value")

_lock = threading.Lock()
_calls: Counter[str] = Counter()
_rows: Counter[str] = Counter()
_failed_rows: Counter[tuple[str, str]] = Counter()


def count_call(function: str, rows: int) -> None:
    """Count one call of the public ``function`` over ``rows`` rows."""
    with _lock:
        _calls[function] += 1
        _rows[function] += rows


def count_failed_rows(function: str, reason: str, rows: int) -> None:
    """Count ``rows`` rows of ``function`` that gave NULL under ``on_error='null'`` because of ``reason``."""
    with _lock:
        _failed_rows[(function, reason)] += rows


def function_counts() -> list[dict[str, Any]]:
    """Per function: calls, rows and failed rows by reason, as rows of :data:`STAT_FIELDS`."""
    with _lock:
        out: list[dict[str, Any]] = []
        for function in sorted(_calls):
            out.append({"component": "function", "name": function, "metric": "calls", "reason": None, "value": _calls[function]})
            out.append({"component": "function", "name": function, "metric": "rows", "reason": None, "value": _rows[function]})
        for (function, reason), count in sorted(_failed_rows.items()):
            out.append({"component": "function", "name": function, "metric": "failed_rows", "reason": reason, "value": count})
        return out


def stats() -> list[dict[str, Any]]:
    """Every counter of this process, as dicts with the keys of :data:`STAT_FIELDS`."""
    from sqlml.engine.cache import opened_caches
    from sqlml.engine.runtime import all_runtimes
    from sqlml.models.onnx_forward import fallback_counts

    rows = function_counts() + fallback_counts()
    for runtime in all_runtimes():
        name = f"{runtime.model_name}@{runtime.device}"
        for metric, value in vars(runtime.snapshot()).items():
            rows.append({"component": "runtime", "name": name, "metric": metric, "reason": None, "value": int(value)})
    for path, cache in opened_caches():
        for metric, value in vars(cache.stats).items():
            rows.append({"component": "cache", "name": str(path), "metric": metric, "reason": None, "value": int(value)})
    return rows
