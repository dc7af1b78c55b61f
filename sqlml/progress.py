"""Progress bars for long jobs (tqdm, imported lazily; silent when disabled)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlml import config


class Progress(Protocol):
    def update(self, n: int) -> Any: ...


class _Silent:
    def update(self, n: int) -> None:
        return None


def enabled(explicit: bool | None, default: bool) -> bool:
    """Whether to show progress: argument > ``SQLML_SHOW_PROGRESS`` > the caller's default."""
    return config.resolve("show_progress", explicit, default, config.parse_bool)


@contextmanager
def progress_bar(total: int | None, desc: str, show: bool, unit: str = "rows") -> Iterator[Progress]:
    """A tqdm bar on stderr when ``show``; otherwise an object whose ``update`` does nothing."""
    if not show:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True) as bar:
        yield bar
