"""Private UDF behind ``udfs/models.sql``: the model listing as a LIST of STRUCTs."""

from __future__ import annotations

from typing import Any

import duckdb

from sqlml.models.catalog import list_models
from sqlml.sql.context import SqlContext

MODEL_STRUCT = "STRUCT(name VARCHAR, id VARCHAR, kind VARCHAR, dimension INTEGER, device VARCHAR, dtype VARCHAR, loaded BOOLEAN, accuracy DOUBLE, macro_f1 DOUBLE)[]"


def register_udfs(con: duckdb.DuckDBPyConnection, ctx: SqlContext) -> None:
    """Register ``_sqlml_models()``; it has side effects (the answer changes as models load)."""

    def models() -> list[dict[str, Any]]:
        return [m.as_dict() for m in list_models()]

    con.create_function("_sqlml_models", models, [], MODEL_STRUCT, side_effects=True)
