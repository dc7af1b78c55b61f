"""The four front doors behind one interface, through public entry points only.

Each door has ``name``, ``functions`` (the public SQL function names it offers) and two methods:

* ``run(call) -> list``: the result as plain Python values: one value per text for row functions
  (``None`` for NULL; vectors as ``list[float]``; ``classify_scores`` as ``[{'label', 'score'}, ...]``),
  ``[{'row', 'score', 'rank'}, ...]`` for ``sqlml_search``, a dict for ``sqlml_train``, dict rows for
  ``sqlml_models``/``sqlml_stats``;
* ``error(call) -> str``: the sqlml message of the error the call raises (DuckDB's and Ray's wrappers
  removed; the CLI's ``Error: `` line). A call that does not fail, a CLI traceback or a non-sqlml
  Python exception fails the test with what happened instead.

Which door reaches which function, and why a door lacks one, is the :data:`SURFACE` table.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

import sqlml

from .cases import Call

DOOR_NAMES = ("sql", "python", "cli", "ray")


@dataclass(frozen=True)
class NotOffered:
    """A door without the function, and why."""

    reason: str


#: Public SQL function -> door -> the entry point the door uses, or why the door has none.
SURFACE: dict[str, dict[str, str | NotOffered]] = {
    "embed": {"sql": "embed(text)", "python": "sqlml.embed", "cli": "sqlml embed", "ray": "sqlml.ray.embed"},
    "embed_list": {
        "sql": "embed_list(text)", "python": "sqlml.embed (one function for any width)", "cli": "sqlml query",
        "ray": NotOffered("sqlml.ray.embed already writes a list column of any width, so it is the embed adapter run again; "
                          "left out to save a Ray actor start (~9 s of CPU: torch and sentence-transformers imports)"),
    },
    "summarize": {"sql": "sqlml.summarize(text)", "python": "sqlml.summarize", "cli": "sqlml summarize", "ray": "sqlml.ray.summarize"},
    "summarize_explain": {
        "sql": "summarize_explain(text)", "python": "sqlml.summarize_explain", "cli": "sqlml query",
        "ray": NotOffered("sqlml.ray has no summarize_explain adapter"),
    },
    "classify": {"sql": "classify(text, labels|model)", "python": "sqlml.classify", "cli": "sqlml classify", "ray": "sqlml.ray.classify"},
    "classify_scores": {
        "sql": "classify_scores(text, labels|model)", "python": "sqlml.classify_scores", "cli": "sqlml classify --scores",
        "ray": "sqlml.ray.classify(scores=True)",
    },
    "relevance": {"sql": "relevance(text, query)", "python": "sqlml.relevance", "cli": "sqlml query (no relevance command)",
                  "ray": "sqlml.ray.relevance"},
    "top_k_sentences": {
        "sql": "top_k_sentences(text, query)", "python": "sqlml.top_k_sentences", "cli": "sqlml query (no command)",
        "ray": NotOffered("sqlml.ray has no top_k_sentences adapter"),
    },
    "sqlml_classify": {
        "sql": "sqlml_classify(table, column, labels)", "python": "sqlml.classify (refine=True)",
        "cli": "sqlml classify --refine",
        "ray": NotOffered("refined labels depend on every row of the table, which one Ray batch never holds; sqlml.ray.classify gives the per-row labels"),
    },
    "sqlml_search": {
        "sql": "sqlml_search(table, column, query)", "python": "sqlml.search", "cli": "sqlml search",
        "ray": NotOffered("BM25 and hybrid scores need the whole corpus in one call; docs/ray.md ranks sqlml.ray.relevance output instead"),
    },
    "sqlml_train": {
        "sql": "sqlml_train(name, list(text), list(label))", "python": "sqlml.train_classifier", "cli": "sqlml train",
        "ray": NotOffered("training needs every labelled row in one call; sqlml.ray has no training adapter"),
    },
    "sqlml_index": {
        "sql": "sqlml_index(index, table, column, key := ...)", "python": "sqlml.Index.build / refresh", "cli": "sqlml index build / refresh",
        "ray": NotOffered("an index is one store written by one writer; sqlml.ray has no index adapter (tests/ops/test_index.py covers the doors)"),
    },
    "sqlml_search_index": {
        "sql": "sqlml_search_index(index, query)", "python": "sqlml.Index.search", "cli": "sqlml index search",
        "ray": NotOffered("searching a stored index is one call per query batch; sqlml.ray has no index adapter"),
    },
    "index_search": {
        "sql": "index_search(index, query) per row", "python": "sqlml.Index.search_many", "cli": "sqlml query (the lateral SQL form)",
        "ray": NotOffered("searching a stored index is one call per query batch; sqlml.ray has no index adapter"),
    },
    "index_neighbours": {
        "sql": "index_neighbours(index, key)", "python": "sqlml.Index.neighbours", "cli": "sqlml query (the SQL form)",
        "ray": NotOffered("neighbours read one stored index; sqlml.ray has no index adapter"),
    },
    "sqlml_indexes": {
        "sql": "sqlml_indexes()", "python": "sqlml.list_indexes", "cli": "sqlml index list",
        "ray": NotOffered("the index store of the calling process's SQLML_HOME; sqlml.ray has no listing adapter"),
    },
    "sqlml_drop_index": {
        "sql": "sqlml_drop_index(index)", "python": "sqlml.Index.drop", "cli": "sqlml index drop",
        "ray": NotOffered("dropping an index is a store operation of one process; sqlml.ray has no index adapter"),
    },
    "sqlml_models": {
        "sql": "sqlml_models()", "python": "sqlml.list_models", "cli": "sqlml models",
        "ray": NotOffered("the catalog of the calling process; sqlml.ray has no listing adapter"),
    },
    "sqlml_stats": {
        "sql": "sqlml_stats()", "python": "sqlml.stats", "cli": "sqlml query (no stats command)",
        "ray": NotOffered("counters are per process and Ray actors' counters are not collected; sqlml.ray has no stats adapter"),
    },
}


#: The Ray door runs every value case, and of the failure cases and trained-head cases only these (labels
#: of cases.py's calls). Each of those is a Ray job of its own, whose actor start costs ~2 s of CPU (an
#: argument error) to ~9 s (the model loads: import of torch and sentence-transformers), too many for this
#: suite's time on a 2-core machine. Behind sqlml.ray, argument checks, the row policy and head loading are
#: the CLI's column-job code (ColumnOp), which the CLI door runs for every case; what Ray adds (the actor,
#: the settings and SQLML_HOME reaching it, the error's way back) these cases cover for every adapter.
RAY_SUBSET = frozenset({
    "unknown-model/embed", "n-zero/summarize", "duplicate-labels/classify", "unknown-classifier/classify",
    "no-labels/classify_scores", "empty-query/relevance",
    *(f"on-error-maybe/{f}" for f in ("embed", "summarize", "classify", "classify_scores", "relevance")),
    "poison-default/embed", "poison-null/embed",
    "head/classify_scores@1",
})


def offered(door: str) -> frozenset[str]:
    return frozenset(f for f, doors in SURFACE.items() if not isinstance(doors[door], NotOffered))


ROW_FUNCTIONS = ("embed", "embed_list", "summarize", "summarize_explain", "classify", "classify_scores", "relevance", "top_k_sentences")


class DoorFailed(AssertionError):
    """A door's call failed where the test expected a result (its message is the door's own error)."""


# -- messages --------------------------------------------------------------------------------------
_SQLML_ERRORS = tuple(name for name in sqlml.__all__ if name.endswith("Error"))
_DUCKDB_UDF = re.compile(r"^(?:[\w ]+ Error: )?Python exception occurred while executing the UDF: (\w+): ", re.S)
_RAY_CAUSE = re.compile(r"sqlml\.errors\.(\w+): (.*?)\n\nThe above exception was the direct cause", re.S)


def sqlml_message(text: str) -> str:
    """The sqlml part of an error text: DuckDB's UDF wrapper removed (a non-sqlml exception keeps its type)."""
    text = text.strip()
    match = _DUCKDB_UDF.match(text)
    if match:
        rest = text[match.end():]
        return rest if match.group(1) in _SQLML_ERRORS else f"{match.group(1)}: {rest}"
    return text


def _python_message(exc: BaseException) -> str:
    """A sqlml or DuckDB error's text; any other exception's type and text (it is not an error sqlml made)."""
    if isinstance(exc, sqlml.SqlmlError) or type(exc).__module__.startswith(("duckdb", "_duckdb")):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _expect_error(door: str, call: Call, action: Callable[[], Any]) -> str:
    try:
        result = action()
    except DoorFailed as failed:
        return str(failed)
    except Exception as exc:  # noqa: BLE001 - every door's error becomes its message
        return _python_message(exc)
    raise AssertionError(f"{door}: {call.label} raised nothing; it gave {result!r}"[:2000])


# -- value conversion --------------------------------------------------------------------------------
def _rows_of_numpy(matrix: np.ndarray) -> list[Any]:
    """numpy results (NaN for NULL) as plain values: vectors as lists, NaN rows as None."""
    if matrix.ndim == 1:
        return [None if np.isnan(v) else float(v) for v in matrix]
    return [None if np.isnan(row).all() else [float(v) for v in row] for row in matrix]


def _search_rows(table: pa.Table, row_column: str) -> list[dict[str, Any]]:
    return [{"row": r[row_column], "score": r["score"], "rank": r["rank"]} for r in table.select([row_column, "score", "rank"]).to_pylist()]


_TRAIN_LINE = re.compile(
    r"trained (?P<ref>\S+): (?P<labels>\d+) labels, (?P<rows>\d+) rows \((?P<skipped>\d+) skipped for NULL\); "
    r"held-out accuracy (?P<accuracy>[\d.]+), macro-F1 (?P<macro_f1>[\d.]+) on (?P<held_out>\d+) rows"
)


def train_summary(ref: str, labels: int, rows: int, skipped: int, held_out: int, accuracy: float | None, macro_f1: float | None) -> dict[str, Any]:
    """What every door reports about a training run, at the CLI's printed precision (4 decimals)."""
    return {"ref": ref, "labels": labels, "rows": rows, "skipped": skipped, "held_out": held_out,
            "accuracy": None if accuracy is None else round(accuracy, 4), "macro_f1": None if macro_f1 is None else round(macro_f1, 4)}


# -- SQL -------------------------------------------------------------------------------------------
#: function -> (SQL name, arguments passed by position after the text)
SQL_NAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "embed": ("embed", ()),
    "embed_list": ("embed_list", ()),
    "summarize": ("sqlml.summarize", ()),
    "summarize_explain": ("summarize_explain", ()),
    "classify": ("classify", ()),
    "classify_scores": ("classify_scores", ()),
    "relevance": ("relevance", ("query",)),
    "top_k_sentences": ("top_k_sentences", ("query",)),
}


def literal(value: Any) -> str:
    """A SQL literal, written the way a user would (strings quoted, label lists as VARCHAR[])."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]::VARCHAR[]"
    raise TypeError(f"no SQL literal for {value!r}")


def sql_text(call: Call, args: dict[str, Any], source: str) -> str:
    """The query a SQL user writes for ``call`` over ``source`` (columns id, x and, for training, y)."""
    args = dict(args)
    if call.function in SQL_NAMES:
        name, positional = SQL_NAMES[call.function]
        parts = ["x", *(literal(args.pop(p)) for p in positional), *(f"{k} := {literal(v)}" for k, v in args.items())]
        return f"SELECT {name}({', '.join(parts)}) AS result, id FROM {source} ORDER BY id"
    if call.function == "sqlml_search":
        query = literal(args.pop("query"))
        named = "".join(f", {k} := {literal(v)}" for k, v in args.items())
        return f"SELECT id, score, rank FROM sqlml_search({literal(source)}, 'x', {query}{named}) ORDER BY rank"
    if call.function == "sqlml_train":
        name, _ = args.pop("name"), args.pop("labels")  # the labels are column y
        named = "".join(f", {k} := {literal(v)}" for k, v in args.items())
        return f"SELECT sqlml_train({literal(name)}, list(x ORDER BY id), list(y ORDER BY id){named}) AS result FROM {source}"
    if call.function in ("sqlml_models", "sqlml_stats"):
        return f"SELECT * FROM {call.function}()"
    raise AssertionError(f"no SQL form for {call.function}")


def _input_table(call: Call) -> pa.Table:
    columns: dict[str, pa.Array] = {"id": pa.array(range(len(call.texts)), pa.int64()), "x": pa.array(call.texts, pa.string())}
    if call.function == "sqlml_train":
        columns["y"] = pa.array(call.kwargs["labels"], pa.string())
    return pa.table(columns)


def _plain(value: Any) -> Any:
    """DuckDB gives fixed-size ARRAY values (embed's FLOAT[d]) as tuples: make them lists like every other door."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _sql_result(call: Call, relation: Any) -> Any:
    columns = list(relation.columns)
    rows = relation.fetchall()
    if call.function in ROW_FUNCTIONS:
        return [_plain(r[0]) for r in rows]
    if call.function == "sqlml_search":
        return [{"row": r[0], "score": r[1], "rank": r[2]} for r in rows]
    if call.function == "sqlml_train":
        r = rows[0][0]
        return train_summary(f"{r['name']}@{r['version']}", len(r["labels"]), r["rows"], r["skipped"], r["held_out"], r["accuracy"], r["macro_f1"])
    return [dict(zip(columns, r, strict=True)) for r in rows]


class SqlDoor:
    """``sqlml.connect()`` (default model from ``SQLML_MODEL``) and the query a user would write."""

    name = "sql"
    functions = offered("sql")

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.con = sqlml.connect()

    def close(self) -> None:
        self.con.close()

    def query(self, call: Call) -> str:
        return sql_text(call, _resolve(call, self.paths), "conformance_input")

    def run(self, call: Call) -> Any:
        self.con.register("conformance_input", _input_table(call))
        try:
            return _sql_result(call, self.con.sql(self.query(call)))
        finally:
            self.con.unregister("conformance_input")

    def error(self, call: Call) -> str:
        return sqlml_message(_expect_error(self.name, call, lambda: self.run(call)))


def _resolve(call: Call, paths: dict[str, str]) -> dict[str, Any]:
    """The call's arguments with the poisoned-model placeholder replaced by its path, lists as lists."""
    return {k: paths.get(v, v) if isinstance(v, str) else (list(v) if isinstance(v, tuple) else v) for k, v in call.args}


# -- Python ----------------------------------------------------------------------------------------
class PythonDoor:
    """The ``sqlml.*`` functions, called with the same arguments by their Python names."""

    name = "python"
    functions = offered("python")

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths

    def run(self, call: Call) -> Any:
        args = _resolve(call, self.paths)
        texts = list(call.texts)
        f = call.function
        if f in ("embed", "embed_list"):
            return _rows_of_numpy(sqlml.embed(texts, **args))
        if f == "relevance":
            return _rows_of_numpy(sqlml.relevance(texts, **args))
        if f in ("summarize", "summarize_explain", "classify", "classify_scores", "top_k_sentences"):
            return list(getattr(sqlml, f)(texts, **args))
        if f == "sqlml_search":
            return _search_rows(sqlml.search(texts, **args), "row")
        if f == "sqlml_train":
            r = sqlml.train_classifier(args.pop("name"), texts, args.pop("labels"), **args)
            return train_summary(r.ref, len(r.labels), r.rows, r.skipped, r.held_out, r.accuracy, r.macro_f1)
        if f == "sqlml_models":
            return [m.as_dict() for m in sqlml.list_models()]
        if f == "sqlml_stats":
            return list(sqlml.stats())
        raise AssertionError(f"python door has no {f}")

    def error(self, call: Call) -> str:
        return _expect_error(self.name, call, lambda: self.run(call))


# -- CLI -------------------------------------------------------------------------------------------
#: SQL argument -> CLI flag, per native command (a function without a command goes through `sqlml query`)
CLI_FLAGS: dict[str, dict[str, str]] = {
    "embed": {"model": "--model", "on_error": "--on-error"},
    "summarize": {"n": "-n", "max_words": "--max-words", "model": "--model", "on_error": "--on-error"},
    "classify": {"labels": "--labels", "model": "--model", "embedding_model": "--embedding-model", "on_error": "--on-error"},
    "sqlml_search": {"k": "-k", "mode": "--mode", "model": "--model", "on_error": "--on-error"},
    "sqlml_train": {"embedding_model": "--embedding-model", "features": "--features"},
}


class CliDoor:
    """``sqlml`` through click's CliRunner over a Parquet file of the texts (columns id, x, y)."""

    name = "cli"
    functions = offered("cli")

    def __init__(self, paths: dict[str, str], workdir: Path) -> None:
        self.paths = paths
        self.workdir = workdir
        self.runs = 0

    def invoke(self, arguments: list[str]) -> Any:
        from sqlml.cli import main

        return CliRunner().invoke(main, arguments)

    def command(self, call: Call) -> tuple[list[str], Path]:
        """The command line for ``call`` and the file its result lands in."""
        self.runs += 1
        source, out = self.workdir / f"in-{self.runs}.parquet", self.workdir / f"out-{self.runs}.parquet"
        pq.write_table(_input_table(call), source)
        args = _resolve(call, self.paths)
        f = call.function
        native = "classify" if f == "classify_scores" else f
        if native in CLI_FLAGS:
            flags: list[str] = []
            for key, value in args.items():
                if key in ("query", "name") or (f == "sqlml_train" and key == "labels"):
                    continue
                flag = CLI_FLAGS[native].get(key)
                if flag is None:
                    raise AssertionError(f"`sqlml {native}` has no flag for {key}")
                flags += [flag, ",".join(value) if isinstance(value, list) else str(value)]
            if f == "sqlml_search":
                return ["search", str(source), args["query"], "-c", "x", *flags, "-f", "parquet", "-o", str(out), "--no-progress"], out
            if f == "sqlml_train":
                return ["train", args["name"], str(source), "--text", "x", "--label", "y", *flags, "--no-progress"], out
            scores = ["--scores"] if f == "classify_scores" else []
            return [native, str(source), "-c", "x", *flags, *scores, "-o", str(out), "--no-progress"], out
        if f == "sqlml_models":
            return ["models", "--format", "json"], out
        sql = sql_text(call, args, f"read_parquet({literal(str(source))})")
        return ["query", sql, "-f", "parquet", "-o", str(out), "--no-progress"], out

    def run(self, call: Call) -> Any:
        arguments, out = self.command(call)
        result = self.invoke(arguments)
        if result.exit_code != 0 or result.exception is not None and not isinstance(result.exception, SystemExit):
            raise DoorFailed(f"`sqlml {' '.join(arguments[:1])}` exited {result.exit_code}: {result.output.strip()}"[:3000])
        f = call.function
        if f == "sqlml_models":
            return json.loads(result.output)
        if f == "sqlml_train":
            match = _TRAIN_LINE.search(result.output)
            assert match, f"`sqlml train` printed no result line: {result.output!r}"
            g = match.groupdict()
            return train_summary(g["ref"], int(g["labels"]), int(g["rows"]), int(g["skipped"]), int(g["held_out"]),
                                 float(g["accuracy"]), float(g["macro_f1"]))
        table = pq.read_table(out)
        if f == "sqlml_search":
            return _search_rows(table, "id")
        if f in ROW_FUNCTIONS:
            assert table.column("id").to_pylist() == list(range(len(call.texts))), "the CLI output reordered or dropped rows"
            column = {"embed": "embedding", "summarize": "summary", "classify": "label", "classify_scores": "scores"}.get(f, "result")
            return table.column(column).to_pylist()
        return table.to_pylist()

    def error(self, call: Call) -> str:
        arguments, out = self.command(call)
        result = self.invoke(arguments)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"`sqlml {arguments[0]}` let {type(result.exception).__name__} escape (a traceback for the user): {result.exception}")
        assert result.exit_code != 0, f"`sqlml {arguments[0]}` succeeded: {result.output!r}"
        assert "Traceback" not in result.output, result.output
        assert not out.exists(), "a failed command left its output file"
        assert "Error: " in result.output, f"no `Error: ` line in {result.output!r}"
        return sqlml_message(result.output[result.output.index("Error: ") + len("Error: "):])


# -- Ray -------------------------------------------------------------------------------------------
#: function -> (sqlml.ray adapter, extra keyword arguments, its default output column)
RAY_ADAPTERS = {
    "embed": ("embed", {}, "embedding"),
    "summarize": ("summarize", {}, "summary"),
    "classify": ("classify", {}, "label"),
    "classify_scores": ("classify", {"scores": True}, "scores"),
    "relevance": ("relevance", {}, "relevance"),
}


@dataclass
class Outcome:
    values: list[Any] | None = None
    error: str | None = None


class RayDoor:
    """``sqlml.ray`` on a local Ray whose actors get the suite's settings through ``runtime_env``.

    Every adapter call starts an actor that imports torch and sentence-transformers (~8 s of CPU), so
    :meth:`prefetch` runs the selected tests' calls in background jobs while the other doors' tests run:
    the calls of one function with equal arguments in one job over all their texts (rows are independent,
    and the value tests check order and count), a call expected to fail in a job of its own. When a shared
    job fails, each of its calls runs alone so that the failure is blamed on the right ones. :meth:`run`
    waits for its call's outcome; a call never prefetched runs when asked.
    """

    name = "ray"
    functions = offered("ray")
    #: Ray jobs at once: the machine has 2 cores, and an actor's start is one core's work for ~8 s.
    JOBS = 2

    def __init__(self, paths: dict[str, str], home: Path) -> None:
        self.paths = paths
        self.home = home
        self._pool = ThreadPoolExecutor(max_workers=self.JOBS, thread_name_prefix="ray-door")
        self._outcomes: dict[Call, Future[Outcome]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def prefetch(self, calls: Iterable[Call]) -> None:
        groups: dict[Any, list[Call]] = defaultdict(list)
        failing: list[Call] = []
        with self._lock:
            for c in dict.fromkeys(calls):
                if c.function not in self.functions or c in self._outcomes:
                    continue
                self._outcomes[c] = Future()
                (failing if c.fails else groups[(c.function, c.args)]).append(c)
        for group in [*groups.values(), *([c] for c in failing)]:
            self._pool.submit(self._job, group)

    def _job(self, group: list[Call]) -> None:
        try:
            self._run(group)
        except BaseException as exc:  # never leave a test waiting
            for c in group:
                if not self._outcomes[c].done():
                    self._outcomes[c].set_exception(exc)
            raise

    def _settle(self, calls: Iterable[Call], outcome: Callable[[Call], Outcome]) -> None:
        for c in calls:
            future = self._outcomes[c]
            if not future.done():
                future.set_result(outcome(c))

    def _run(self, group: list[Call]) -> None:
        """One Ray job: the group's adapter over all its calls' texts; an outcome for each call."""
        import ray

        texts: list[str | None] = []
        spans: dict[tuple[str | None, ...], tuple[int, int]] = {}
        for c in group:
            if c.texts not in spans:
                spans[c.texts] = (len(texts), len(texts) + len(c.texts))
                texts += c.texts
        try:
            ds = ray.data.from_arrow(pa.table({"id": pa.array(range(len(texts)), pa.int64()), "x": pa.array(texts, pa.string())}))
            out = pa.concat_tables(ray.get(self._adapter(ds, group[0], "out").to_arrow_refs()))
        except Exception as exc:  # noqa: BLE001
            if len(spans) > 1:  # blame each call on its own
                for c in group:
                    self._run([c])
                return
            message = self._message(exc)
            self._settle(group, lambda _c: Outcome(error=message))
            return
        if out.column("id").to_pylist() != list(range(len(texts))):
            self._settle(group, lambda _c: Outcome(error="Ray returned the rows in another order or count"))
            return
        values = out.column("out").to_pylist()
        self._settle(group, lambda c: Outcome(values=values[spans[c.texts][0]:spans[c.texts][1]]))

    def _adapter(self, ds: Any, call: Call, output_column: str) -> Any:
        import sqlml.ray as sr

        adapter, extra, _ = RAY_ADAPTERS[call.function]
        args = {**_resolve(call, self.paths), **extra, "output_column": output_column}
        if call.function == "relevance":
            return sr.relevance(ds, "x", args.pop("query"), **args)
        return getattr(sr, adapter)(ds, "x", **args)

    @staticmethod
    def _message(exc: BaseException) -> str:
        match = _RAY_CAUSE.search(str(exc))
        if match:
            return match.group(2) if match.group(1) in _SQLML_ERRORS else f"{match.group(1)}: {match.group(2)}"
        return _python_message(exc)

    def _outcome(self, call: Call) -> Outcome:
        if call.function not in self.functions:
            raise AssertionError(f"ray door has no {call.function}")
        with self._lock:
            known = call in self._outcomes
        if not known:
            self.prefetch([call])
        return self._outcomes[call].result()

    def run(self, call: Call) -> Any:
        outcome = self._outcome(call)
        if outcome.error is not None:
            raise DoorFailed(f"ray: {outcome.error}")
        return outcome.values

    def error(self, call: Call) -> str:
        outcome = self._outcome(call)
        if outcome.error is None:
            raise AssertionError(f"ray: {call.label} raised nothing; it gave {outcome.values!r}"[:2000])
        return outcome.error
