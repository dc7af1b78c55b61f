"""One operation applied to one text column: what the CLI's Parquet jobs and the Ray adapter run.

A :class:`ColumnOp` is built from picklable arguments (an operation name and its options), so a Ray actor
can build it once and keep the model loaded. It binds the operation through :mod:`sqlml.ops.calls`, the
core the SQL functions and the Python API use too, and applies the ``on_error`` row policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sqlml.config import Settings
from sqlml.on_error import run_rows
from sqlml.ops.calls import Bound, bind, check_arguments

#: Options that say where the model runs; every other option is the operation's own argument.
SETTINGS_OPTIONS = ("device", "dtype", "batch_size", "max_batch_tokens", "cache")


@dataclass
class ColumnOp:
    """``ColumnOp('embed', {'model': 'default'})(texts)``: the operation applied to one text column.

    ``options``: the operation's arguments as its Python API names them (``model``, ``n``, ``labels``,
    ``query``, ...), the settings in :data:`SETTINGS_OPTIONS`, and ``on_error`` (``'raise'`` default or
    ``'null'``, :mod:`sqlml.on_error`). The model loads on the first call, once per instance. NULL text →
    NULL result; row count and order are kept.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    _bound: Bound | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_arguments(self.name, self.options)  # before any model loads

    def __call__(self, texts: pa.StringArray) -> pa.Array:
        if self._bound is None:
            settings = Settings.resolve(**{k: self.options.get(k) for k in SETTINGS_OPTIONS})
            arguments = {k: v for k, v in self.options.items() if k not in SETTINGS_OPTIONS and k != "on_error"}
            self._bound = bind(self.name, settings, **arguments)
        bound = self._bound
        return run_rows(self.name, texts, lambda part, _start, _stop: bound(part, {}), self.options.get("on_error"))
