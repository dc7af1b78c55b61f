"""News triage over Parquet: desk, review flag, urgency and a brief per article (the SQL is news_triage.sql).

    python examples/news_triage.py examples/data/articles.parquet triage.parquet
    python examples/news_triage.py 'inbox/*.parquet' triage.parquet --text-column content --device cuda

The input needs an ``id`` and a ``title`` column and a text column (``body`` unless --text-column says
otherwise). Prints the articles per desk and the most urgent ones; writes every result column to OUTPUT.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sqlml

SQL = Path(__file__).with_name("news_triage.sql")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def triage(inputs: str, output: str, text_column: str = "body", model: str | None = None, device: str | None = None) -> int:
    """Run news_triage.sql over the Parquet file(s) ``inputs`` and write ``output``; return the row count."""
    with sqlml.connect(model=model, device=device) as con:
        column = '"' + text_column.replace('"', '""') + '"'
        con.sql(f"CREATE VIEW articles AS SELECT id, title, {column} AS body FROM read_parquet({quote(inputs)})")
        con.sql(f"CREATE TABLE triage AS {SQL.read_text(encoding='utf-8')}")
        con.sql(f"COPY triage TO {quote(output)} (FORMAT parquet)")
        print(con.sql("SELECT desk, count(*) AS articles, count(*) FILTER (needs_review) AS to_review FROM triage GROUP BY desk ORDER BY articles DESC, desk"))
        print(con.sql("SELECT id, desk, urgency, title FROM triage ORDER BY urgency DESC, id LIMIT 3"))
        return con.sql("SELECT count(*) FROM triage").fetchall()[0][0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", help="Parquet file or glob pattern (quote it)")
    parser.add_argument("output", help="output Parquet file")
    parser.add_argument("--text-column", default="body", help="the text column (default: body)")
    parser.add_argument("--model", default=None, help="embedding model (default: SQLML_MODEL or the embedded model)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, ... (default: SQLML_DEVICE or auto)")
    args = parser.parse_args(argv)
    rows = triage(args.inputs, args.output, args.text_column, args.model, args.device)
    print(f"wrote {rows} rows to {args.output}")


if __name__ == "__main__":
    main()
