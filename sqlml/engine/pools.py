"""Process-wide thread pools, one per job, created on first use."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def shared_pool(name: str) -> ThreadPoolExecutor:
    """The process's pool named ``name`` (one thread per core, threads named ``sqlml-<name>``).

    Each job has its own pool: a task of one pool may wait for tasks of another (a summarize piece waits
    for its tokenizer pieces), which a single shared pool could deadlock on once its threads all wait.
    """
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix=f"sqlml-{name}")
        return pool
