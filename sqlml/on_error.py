"""The ``on_error`` policy, once for every operation: isolate the rows that make a call fail.

An operation runs on a whole chunk (up to 2048 rows from DuckDB, a Parquet batch from the CLI). When it
raises, :func:`run_rows` bisects the chunk to find the rows that fail on their own, then:

* ``on_error='raise'`` (default): raises :class:`RowFailedError` naming the function, the first failing
  row (its position and a preview of its text), the underlying error and the fix;
* ``on_error='null'``: runs the chunk once more with those rows' text set to NULL, so exactly those rows
  give NULL (the operation's own NULL result) and every other row its normal result; the failures are
  counted per function and reason (the exception type), readable with ``sqlml_stats()`` /
  :func:`sqlml.stats`.

Text that is not valid UTF-8 (Arrow data from a Parquet file, a registered table or the Python API is
not checked on the way in) fails its row before the operation runs: named under ``'raise'`` (its bytes
shown with U+FFFD), NULL and counted under ``'null'``.

Argument errors (an invalid ``n``/``k``/label list/mode, an unknown model, a model that cannot load, a
bad setting) are mistakes of the query, not of a row: they raise under both policies, unbisected. When
no single row reproduces a failure (a transient device error, memory for the whole chunk), the chunk is
run once more and a second failure is raised as it came.
``KeyboardInterrupt`` and other ``BaseException``\\ s are never caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from sqlml.engine.counters import count_call, count_failed_rows
from sqlml.errors import (
    ConfigError,
    InputFileError,
    InvalidArgumentError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    RowFailedError,
)
from sqlml.ops.inputs import as_string_array, invalid_utf8_rows

OnError = Literal["raise", "null"]
POLICIES: tuple[OnError, ...] = ("raise", "null")
#: Errors about the call's arguments or setup: raised under every policy, never blamed on a row.
ARGUMENT_ERRORS: tuple[type[BaseException], ...] = (
    InvalidArgumentError, ConfigError, ModelNotFoundError, ModelLoadError, MissingExtraError, InputFileError, RowFailedError,
)
FIX = "fix or filter that row, or pass on_error := 'null' (Python on_error='null', CLI --on-error null) to get NULL for failing rows"

R = TypeVar("R")



def check_on_error(value: str | None, function: str) -> OnError:
    """``None`` → ``'raise'``; ``'raise'``/``'null'`` as given; anything else is an argument error."""
    if value is None:
        return "raise"
    if value not in POLICIES:
        raise InvalidArgumentError(f"{function}: on_error must be 'raise' or 'null', not {value!r}")
    return value  # type: ignore[return-value]


def run_rows(
    function: str,
    texts: pa.StringArray,
    compute: Callable[[pa.StringArray, int, int], R],
    on_error: str | None,
) -> R:
    """``compute(texts, 0, len(texts))`` under the ``on_error`` policy; rows are never dropped or reordered.

    ``compute(texts_slice, start, stop)`` must return the result for rows ``start:stop`` (other per-row
    arguments are the caller's to slice with ``start``/``stop``) and give its NULL result for a NULL text.
    Counts one call and ``len(texts)`` rows for ``function``.
    """
    policy = check_on_error(on_error, function)
    count_call(function, len(texts))
    unreadable = invalid_utf8_rows(texts)
    if unreadable:
        if policy == "raise":
            raise RowFailedError(
                f"{function}: row {unreadable[0] + 1} of {len(texts)} in this batch ({describe(raw_value(texts, unreadable[0]))}) "
                f"is not valid UTF-8 (bytes that do not decode are shown as \ufffd); {FIX}"
            )
        count_failed_rows(function, "UnicodeDecodeError", len(unreadable))
        texts = _null_rows(texts, unreadable)
    try:
        return compute(texts, 0, len(texts))
    except ARGUMENT_ERRORS:
        raise
    except Exception as exc:
        failing = _failing_rows(texts, compute, 0, len(texts), exc, first_only=policy == "raise")
        if not failing:  # no row fails alone (a transient fault, memory for the whole chunk): one more try
            return compute(texts, 0, len(texts))
        if policy == "raise":
            row, error = failing[0]
            raise RowFailedError(
                f"{function}: row {row + 1} of {len(texts)} in this batch ({describe(raw_value(texts, row))}) failed: "
                f"{type(error).__name__}: {error}; {FIX}"
            ) from error
        for _, error in failing:
            count_failed_rows(function, type(error).__name__, 1)
        return compute(_null_rows(texts, [row for row, _ in failing]), 0, len(texts))


def _null_rows(texts: pa.StringArray, rows: list[int]) -> pa.StringArray:
    """``texts`` with the text of ``rows`` set to NULL."""
    mask = pc.is_in(pa.array(range(len(texts))), pa.array(rows, pa.int64()))
    return pc.if_else(mask, pa.scalar(None, pa.string()), texts)


def _failing_rows(
    texts: pa.StringArray,
    compute: Callable[[pa.StringArray, int, int], object],
    start: int,
    stop: int,
    error: Exception,
    *,
    first_only: bool,
) -> list[tuple[int, Exception]]:
    """Rows in ``start:stop`` (known to fail with ``error``) that fail on their own, in order, by bisection.

    ``first_only`` stops at the first one (``'raise'`` reports one row: about 2·log2(n) calls, not up to 2n).
    """
    if stop - start == 1:
        return [(start, error)]
    failing: list[tuple[int, Exception]] = []
    middle = (start + stop) // 2
    for lo, hi in ((start, middle), (middle, stop)):
        try:
            compute(texts.slice(lo, hi - lo), lo, hi)
        except ARGUMENT_ERRORS:
            raise
        except Exception as exc:
            failing.extend(_failing_rows(texts, compute, lo, hi, exc, first_only=first_only))
            if first_only:
                return failing
    return failing


def raw_value(texts: pa.StringArray, row: int) -> bytes | None:
    """Row ``row``'s text as its bytes (``None`` for NULL): readable whether or not they are UTF-8."""
    return texts.view(pa.binary())[row].as_py()


def describe(text: str | bytes | None) -> str:
    """A short, safe preview of a row's text for error messages, the one every door shows.

    Bytes that are not UTF-8 are counted in bytes and shown with U+FFFD where they do not decode; a lone
    surrogate in a Python string shows as ``?``.
    """
    if text is None:
        return "NULL text"
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return f"text of {len(text):,} bytes starting {_preview(text[:160].decode('utf-8', 'replace'))!r}"
    return f"text of {len(text):,} characters starting {_preview(text).encode('utf-8', 'replace').decode('utf-8')!r}"


def _preview(text: str) -> str:
    return text[:40] + ("…" if len(text) > 40 else "")


def python_texts(texts: object, function: str, on_error: str | None) -> pa.StringArray:
    """:func:`sqlml.ops.inputs.as_string_array`, where a string that is not valid Unicode is a failing row.

    Only Python strings can hold one (a lone surrogate, e.g. from ``bytes.decode(errors='surrogateescape')``);
    Arrow bytes that are not UTF-8 are :func:`run_rows`'s to find. Under ``'null'`` such rows become NULL and are counted.
    """
    policy = check_on_error(on_error, function)
    try:
        return as_string_array(texts)
    except UnicodeEncodeError:
        items = list(texts)  # type: ignore[call-overload]
    bad = [i for i, t in enumerate(items) if isinstance(t, str) and not _valid_unicode(t)]
    if policy == "raise":
        raise RowFailedError(
            f"{function}: row {bad[0] + 1} of {len(items)} ({describe(items[bad[0]])}) is not valid Unicode (a lone "
            f"surrogate, e.g. from decoding bytes with errors='surrogateescape'); clean it with "
            f"text.encode('utf-8', 'replace').decode('utf-8'), or pass on_error='null' to get None for such rows"
        )
    count_failed_rows(function, "UnicodeEncodeError", len(bad))
    dropped = set(bad)
    return as_string_array([None if i in dropped else t for i, t in enumerate(items)])


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
