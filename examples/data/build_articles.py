"""Rebuild ``articles.parquet`` from ``articles.jsonl``.

The 36 short news-style articles in ``articles.jsonl`` were written for sqlml
as a bundled sample data set. They are fictional: every person, company and
place in them is invented (or used only as a backdrop), and no text was copied
from any real news source. There are six articles in each of the categories
business, sport, politics, tech, entertainment and science.

``articles.jsonl`` is the source of truth. Edit that file, never the Parquet
file, and then run this script to regenerate ``articles.parquet`` next to it::

    python3 examples/data/build_articles.py

The Parquet file has the schema ``id int64, title string, body string,
category string`` and is written with zstd compression.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR: Path = Path(__file__).parent
SOURCE: Path = DATA_DIR / "articles.jsonl"
TARGET: Path = DATA_DIR / "articles.parquet"

SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("title", pa.string()),
        pa.field("body", pa.string()),
        pa.field("category", pa.string()),
    ]
)


def read_articles(path: Path) -> list[dict[str, Any]]:
    """Return the articles in ``path`` (JSON Lines), sorted by id."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = set(SCHEMA.names) - row.keys()
            if missing:
                raise ValueError(f"{path}:{line_no}: missing keys {sorted(missing)}")
            rows.append({name: row[name] for name in SCHEMA.names})
    rows.sort(key=lambda r: r["id"])
    return rows


def build_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Convert article dicts into a table with the fixed :data:`SCHEMA`."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def main() -> None:
    """Read ``articles.jsonl`` and write ``articles.parquet`` next to it."""
    table = build_table(read_articles(SOURCE))
    pq.write_table(table, TARGET, compression="zstd")
    print(f"wrote {table.num_rows} articles to {TARGET}")


if __name__ == "__main__":
    main()
