"""``sqlml index build|refresh|search|list|drop``: named search indexes from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from sqlml.cli.options import FORMAT_CHOICE, SqlmlGroup, runtime_options


@click.group(cls=SqlmlGroup)
def index() -> None:
    """Build, refresh, search, list and drop named search indexes.

    An index keeps the embeddings, an HNSW graph and a BM25 index of a text column in
    $SQLML_HOME/indexes/NAME, so a search embeds only its query and answers in milliseconds,
    and a refresh embeds only the rows whose text changed. The same indexes serve SQL
    (sqlml_index, sqlml_search_index, index_search, index_neighbours) and Python (sqlml.Index).

    \b
    Examples:
      sqlml index build news_idx news.parquet --column body --key id
      sqlml index search news_idx "interest rates" -k 5
      sqlml index refresh news_idx news.parquet --column body --key id
      sqlml index list
      sqlml index drop news_idx
    """


def _build(name: str, inputs: tuple[str, ...], column: str, key: str, chunk: str | None, model: str | None, device: str | None,
           batch_size: int | None, progress: bool, rebuild: bool) -> None:
    from sqlml.config import Settings
    from sqlml.errors import InvalidArgumentError
    from sqlml.jobs.parquet import expand_inputs, read_labelled
    from sqlml.ops.index.build import build_index

    if key == column:
        raise InvalidArgumentError(f"--key and --column both name column {column!r}; the key must be another (unique) column")
    texts, keys = read_labelled(expand_inputs(list(inputs)), column, key, "index")
    settings = Settings.resolve(model=model, device=device, batch_size=batch_size)
    report = build_index(name, keys, texts, settings=settings, rebuild=rebuild, chunk=chunk, source=f"{','.join(inputs)}:{column}",
                         show_progress=progress)
    click.echo(str(report))


_BUILD_OPTIONS = (
    click.argument("name"),
    click.argument("inputs", nargs=-1, required=True),
    click.option("--column", "-c", required=True, help="The text column to index."),
    click.option("--key", required=True, help="The unique key column: search results name it, a refresh compares by it."),
    click.option("--chunk", type=click.Choice(["sentences"]), default=None,
                 help="Store texts longer than the model window as sentence-aligned passages (hits name their best passage)."),
)


def _build_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The build/refresh arguments and options, then the model flags every model command shares."""
    for option in reversed(_BUILD_OPTIONS):
        func = option(func)
    return runtime_options(func)


@index.command()
@_build_options
def build(name: str, inputs: tuple[str, ...], column: str, key: str, chunk: str | None, model: str | None, device: str | None,
          batch_size: int | None, progress: bool) -> None:
    """Build index NAME over a text column of Parquet files (an existing NAME is refreshed).

    Embeds every row once (with a progress bar), builds the HNSW graph and the BM25 index, and
    writes them as a new version that replaces the old one atomically.

    \b
    Example:
      sqlml index build news_idx news.parquet --column body --key id
    """
    _build(name, inputs, column, key, chunk, model, device, batch_size, progress, rebuild=False)


@index.command()
@_build_options
@click.option("--rebuild", is_flag=True, help="Re-embed every row (another --model, or a damaged index).")
def refresh(name: str, inputs: tuple[str, ...], column: str, key: str, chunk: str | None, rebuild: bool, model: str | None,
            device: str | None, batch_size: int | None, progress: bool) -> None:
    """Bring index NAME up to date with Parquet files: only rows whose text changed are embedded.

    New keys are added, keys no longer present are removed, unchanged rows cost nothing. While at
    most 20 % of the rows changed since the last whole version, only those rows are written. Prints
    how many rows were added, updated, removed and left unchanged.

    \b
    Example:
      sqlml index refresh news_idx news.parquet --column body --key id
      sqlml index refresh news_idx news.parquet --column body --key id --rebuild --model other-model
    """
    _build(name, inputs, column, key, chunk, model, device, batch_size, progress, rebuild=rebuild)


@index.command()
@click.argument("name")
@click.argument("query")
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many keys to return (best first).")
@click.option("--mode", metavar="semantic|lexical|hybrid", default="semantic", show_default=True,
              help="semantic (cosine), lexical (BM25) or hybrid (equal-weight sum of both, each min-max normalised).")
@click.option("--keys", "allowed", default=None, metavar="A,B,C", help="Search only these keys (exact recall on them).")
@click.option("--format", "-f", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to this file (atomically) instead of stdout.")
@runtime_options
def search(name: str, query: str, k: int, mode: str, allowed: str | None, fmt: str, output: str | None, model: str | None,
           device: str | None, batch_size: int | None, progress: bool) -> None:
    """Print the K keys of index NAME most relevant to QUERY, with score and rank.

    \b
    Examples:
      sqlml index search news_idx "interest rates" -k 5
      sqlml index search news_idx "rates" --mode hybrid --keys 3,17,42 -f json
    """
    from sqlml.cli.output import show_duckdb_progress, write_query
    from sqlml.ops.index import store
    from sqlml.ops.relevance.scores import check_k
    from sqlml.sql import connect
    from sqlml.sql.quoting import quote_literal

    check_k(k, "sqlml_search_index")
    store.load(name)  # an unknown or damaged index is named before any model loads
    keys = "NULL" if allowed is None else "[" + ", ".join(quote_literal(x.strip()) for x in allowed.split(",")) + "]"
    model_arg = "NULL" if model is None else quote_literal(model)
    sql = (f"SELECT * FROM sqlml_search_index({quote_literal(name)}, {quote_literal(query)}, k := {k}, mode := {quote_literal(mode)}, "
           f"keys := {keys}, model := {model_arg})")
    with connect(device=device, batch_size=batch_size) as con:
        show_duckdb_progress(con, progress, output)
        write_query(con, sql, fmt, output)
    if fmt == "table" or output is None:
        click.echo()


@index.command("list")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
def list_command(fmt: str) -> None:
    """List every index: rows, model, bytes on disk, last update.

    \b
    Example:
      sqlml index list --format json
    """
    from sqlml.ops.index import store

    rows = store.list_indexes()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no indexes yet (build one: sqlml index build NAME FILE.parquet --column TEXT --key ID)")
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']}  ERROR {row['error']}")
            continue
        click.echo(f"{row['name']}  v{row['version']}  {row['rows']:,} rows  {row['model']} ({row['dimension']}-d)  "
                   f"{row['bytes'] / 2**20:,.1f} MiB  updated {row['updated_at']}  from {row['source']}")


@index.command()
@click.argument("name")
def drop(name: str) -> None:
    """Remove index NAME and every version of it.

    \b
    Example:
      sqlml index drop news_idx
    """
    from sqlml.errors import InvalidArgumentError
    from sqlml.ops.index import store

    if not store.drop(name):
        raise InvalidArgumentError(f"index {name!r} not found; known indexes: {store.known_text()}")
    click.echo(f"dropped index {name}")
