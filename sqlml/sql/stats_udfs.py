"""Private UDF behind ``udfs/stats.sql``: the process's counters (:func:`sqlml.engine.counters.stats`) as a LIST of STRUCTs."""

from __future__ import annotations

from typing import Any

import duckdb

from sqlml.engine.counters import stats
from sqlml.sql.context import SqlContext

STATS_STRUCT = "STRUCT(component VARCHAR, name VARCHAR, metric VARCHAR, reason VARCHAR, value BIGINT)[]"


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register ``_sqlml_stats()``; it has side effects (the answer changes with every query)."""

    def read_stats() -> list[dict[str, Any]]:
        return stats()

    con.create_function("_sqlml_stats", read_stats, [], STATS_STRUCT, side_effects=True)
