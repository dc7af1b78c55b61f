"""A searchable index of a folder of text files, kept in a DuckDB database file.

    python examples/text_index.py build notes/ notes.duckdb          # every *.txt / *.md under notes/, recursively
    python examples/text_index.py search notes.duckdb "how do I rotate the API keys" -k 5

``build`` stores each file's path, text and embedding (FLOAT[d]) in table ``docs``; texts longer than the
model window (256 tokens by default) are embedded from their beginning, so split long documents first if
their ends matter. ``search`` ranks files by cosine similarity to the query and shows the best sentence of
each hit as evidence (top_k_sentences). sqlml's functions live in an in-memory catalog, so the database
file holds only your table and opens with plain DuckDB too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sqlml


def build(folder: str | Path, database: str | Path, model: str | None = None, device: str | None = None) -> int:
    """(Re)create table ``docs`` in ``database`` from the .txt and .md files under ``folder``; return the file count."""
    root = Path(folder)
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix in {".txt", ".md"})
    with sqlml.connect(str(database), model=model, device=device) as con:
        con.sql("CREATE OR REPLACE TABLE docs (path VARCHAR, content VARCHAR, embedding FLOAT[])")
        if files:
            con.execute(
                """INSERT INTO docs
                   SELECT filename, content, embed_list(content) FROM read_text($files) ORDER BY filename""",
                {"files": files},
            ).fetchall()
        return con.sql("SELECT count(*) FROM docs").fetchall()[0][0]


def search(database: str | Path, query: str, k: int = 5, model: str | None = None, device: str | None = None) -> list[tuple[str, float, str]]:
    """The ``k`` files most similar to ``query``, best first: (path, cosine score, best sentence)."""
    with sqlml.connect(str(database), model=model, device=device) as con:
        return con.execute(
            """SELECT path, round(list_cosine_similarity(embedding, embed_list($query)), 4) AS score,
                      top_k_sentences(content, $query, k := 1)[1] AS evidence
               FROM docs ORDER BY score DESC, path LIMIT $k""",
            {"query": query, "k": k},
        ).fetchall()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="embedding model; use the same one to build and search")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, ...")
    commands = parser.add_subparsers(dest="command", required=True)
    build_args = commands.add_parser("build", help="index a folder")
    build_args.add_argument("folder")
    build_args.add_argument("database")
    search_args = commands.add_parser("search", help="query an index")
    search_args.add_argument("database")
    search_args.add_argument("query")
    search_args.add_argument("-k", type=int, default=5, help="how many files to show")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(f"indexed {build(args.folder, args.database, args.model, args.device)} files into {args.database}")
    else:
        for path, score, evidence in search(args.database, args.query, args.k, args.model, args.device):
            print(f"{score:.4f}  {path}\n        {evidence}")


if __name__ == "__main__":
    main()
