"""Ctrl-C stops a running sqlml query at once and leaves its connection usable.

Left alone, a SIGINT that arrives while DuckDB runs sqlml's Python UDFs is noticed only when the query
ends (measured: a 300,000-row embed query ran its full 150 s). So the first :func:`track` call in the
main thread installs a SIGINT handler that calls ``interrupt()`` on every open sqlml connection and
cursor. Inside a DuckDB call the query then stops with ``duckdb.InterruptException`` ("Interrupted!")
and the connection stays usable; raising ``KeyboardInterrupt`` there instead would land in whatever
Python code DuckDB runs on the main thread at that moment (measured: in the middle of a lazy
``import pandas``, leaving that module half-initialised for the rest of the process). Outside a
DuckDB call, Ctrl-C raises ``KeyboardInterrupt`` as usual. The handler is installed only over
Python's default one: an application's own SIGINT handler is kept.
"""

from __future__ import annotations

import signal
import threading
import weakref
from types import FrameType
from typing import Any

import duckdb

_open: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def track(con: duckdb.DuckDBPyConnection) -> None:
    """Remember ``con`` (weakly) so Ctrl-C interrupts its running query; install the handler once."""
    global _installed
    with _lock:
        _open.add(con)
        if _installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        signal.signal(signal.SIGINT, _on_sigint)
        _installed = True


def interrupt_all() -> None:
    """Interrupt the running query (if any) of every tracked connection; closed ones are skipped."""
    with _lock:
        connections = list(_open)
    for con in connections:
        try:
            con.interrupt()
        except duckdb.Error:  # closed meanwhile: nothing to stop
            continue


def _on_sigint(signum: int, frame: FrameType | None) -> Any:
    interrupt_all()
    if _inside_duckdb(frame):
        return None  # DuckDB raises InterruptException from the query it was running
    return signal.default_int_handler(signum, frame)


def _inside_duckdb(frame: FrameType | None) -> bool:
    """True when the main thread's stack passes through the duckdb package (a query is running)."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(("duckdb", "_duckdb")):
            return True
        frame = frame.f_back
    return False
