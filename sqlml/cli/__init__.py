"""The ``sqlml`` command: a thin shell over the Python API (``sqlml --help`` imports no model code)."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from sqlml.cli.options import (  # noqa: F401 - FORMAT_CHOICE and the decorators are the commands' shared flags
    FORMAT_CHOICE,
    ON_ERROR_OPTION,
    SqlmlGroup,
    engine_options,
    model_flags,
    runtime_options,
)


@click.group(cls=SqlmlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sqlml")
def main() -> None:
    """sqlml: model inference as plain SQL over Parquet and DuckDB.

    \b
    Examples:
      sqlml demo
      sqlml query "SELECT id, embed(body)[1:3] AS head FROM 'examples/data/articles.parquet' LIMIT 5"
      sqlml embed articles.parquet --column body -o embedded.parquet
      sqlml summarize articles.parquet --column body -n 3 -o summaries.parquet
      sqlml search articles.parquet --column body "interest rates" -k 5
      sqlml cache info
      sqlml classify articles.parquet --column body --labels business,sport,tech -o topics.parquet
      sqlml train topics labelled.parquet --text body --label category
      sqlml models

    Run `sqlml COMMAND --help` for each command's options. Settings also come from SQLML_* environment
    variables (an explicit flag wins).
    """


@main.command()
@click.argument("sql")
@click.option("--format", "-f", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to this file (atomically) instead of stdout.")
@runtime_options
def query(sql: str, fmt: str, output: str | None, model: str | None, device: str | None, batch_size: int | None, progress: bool) -> None:
    """Run SQL with every sqlml function available.

    Files are queried by naming them in the SQL, e.g. FROM 'data/*.parquet'. Every sqlml function
    (embed, sqlml.summarize, classify, relevance, ...) is available.

    \b
    Examples:
      sqlml query "SELECT id, embed(body)[1:3] FROM 'articles.parquet' LIMIT 5"
      sqlml query "SELECT * FROM sqlml_models()" --format json
      sqlml query "SELECT id, embed(body) AS e FROM 'in.parquet'" -f parquet -o out.parquet
    """
    from sqlml.cli.output import show_duckdb_progress, write_query
    from sqlml.sql import connect

    with connect(model=model, device=device, batch_size=batch_size) as con:
        show_duckdb_progress(con, progress, output)
        write_query(con, sql, fmt, output)
    if fmt == "table" or output is None:
        click.echo()


def _column_job(
    inputs: list[str], output: str, op_name: str, column: str, new_column: str, options: dict[str, Any], *, engine: str,
    resume: bool, show_progress: bool, address: str | None, num_gpus: float | None, concurrency: int | None,
) -> int:
    """Run a column job on the local engine (one file, atomically; resumable) or hand it to the Ray door (a folder)."""
    if engine == "ray":
        if resume:
            from sqlml.errors import InvalidArgumentError

            raise InvalidArgumentError("--resume is for the local engine; Ray retries failed batches itself")
        from sqlml.ray import run_parquet_job

        return run_parquet_job(inputs, output, op_name, column, new_column, options, address=address, num_gpus=num_gpus,
                               concurrency=concurrency)
    from sqlml.jobs.parquet import run_column_job

    return run_column_job(inputs, output, op_name, column, new_column, options, resume=resume, show_progress=show_progress)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--column", "-c", required=True, help="The text column to embed.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output Parquet file (written atomically), or folder with --engine ray.")
@click.option("--as", "new_column", default="embedding", show_default=True, help="Name of the added column.")
@ON_ERROR_OPTION
@runtime_options
@engine_options
def embed(inputs: tuple[str, ...], column: str, output: str, new_column: str, on_error: str, model: str | None, device: str | None,
          batch_size: int | None, progress: bool, engine: str, address: str | None, num_gpus: float | None, concurrency: int | None,
          resume: bool) -> None:
    """Add an embedding column to Parquet files.

    INPUTS are Parquet files or quoted glob patterns. Every input column is kept; the new column holds
    FLOAT[d] vectors (L2-normalised; NULL text gives NULL). The output appears only when every row is
    done; an interrupted run continues with --resume.

    \b
    Examples:
      sqlml embed 'data/*.parquet' --column body -o embedded.parquet
      sqlml embed 'data/*.parquet' --column body --engine ray --num-gpus 1 -o embedded/
      sqlml embed messy.parquet --column body --on-error null -o embedded.parquet
    """
    options = {"model": model, "device": device, "batch_size": batch_size, "on_error": on_error}
    rows = _column_job(list(inputs), output, "embed", column, new_column, options, engine=engine, resume=resume, show_progress=progress,
                       address=address, num_gpus=num_gpus, concurrency=concurrency)
    click.echo(f"wrote {rows} rows to {output}", err=True)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--column", "-c", required=True, help="The text column to summarize.")
@click.option("-n", "n", type=int, default=3, show_default=True, help="Sentences per summary (1 or more).")
@click.option("--max-words", type=int, default=None, metavar="W",
              help="Length budget: keep sentences (in the summary's ranking) while their words, counted between spaces, "
                   "fit W, up to N; the best sentence always. E.g. -n 10 --max-words 60 for about 60 words.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output Parquet file (written atomically), or folder with --engine ray.")
@click.option("--as", "new_column", default="summary", show_default=True, help="Name of the added column.")
@ON_ERROR_OPTION
@runtime_options
@engine_options
def summarize(
    inputs: tuple[str, ...], column: str, n: int, max_words: int | None, output: str, new_column: str, on_error: str, model: str | None,
    device: str | None, batch_size: int | None, progress: bool, engine: str, address: str | None, num_gpus: float | None,
    concurrency: int | None, resume: bool,
) -> None:
    """Add an extractive summary column to Parquet files.

    INPUTS are Parquet files or quoted glob patterns. Every input column is kept; the new column holds
    the N most representative sentences of each text, verbatim, in their original order, joined by a
    space (sentences are embedded and clustered with k-means; see `summarize_explain` in SQL for why a
    sentence was picked). NULL or empty text gives NULL.

    \b
    Examples:
      sqlml summarize articles.parquet --column body -n 3 -o summaries.parquet
      sqlml summarize 'news/*.parquet' -c body -n 5 --as gist -o gists.parquet
      sqlml summarize articles.parquet --column body -n 10 --max-words 60 -o short.parquet
      sqlml summarize 'data/*.parquet' --column body --engine ray --num-gpus 1 -o out/
    """
    options = {"n": n, "max_words": max_words, "model": model, "device": device, "batch_size": batch_size, "on_error": on_error}
    rows = _column_job(list(inputs), output, "summarize", column, new_column, options, engine=engine, resume=resume, show_progress=progress,
                       address=address, num_gpus=num_gpus, concurrency=concurrency)
    click.echo(f"wrote {rows} rows to {output}", err=True)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.argument("query")
@click.option("--column", "-c", required=True, help="The text column to search.")
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many rows to return (best first).")
@click.option("--mode", metavar="semantic|lexical|hybrid", default="hybrid", show_default=True, help="semantic (cosine), lexical (BM25) or hybrid (equal-weight sum of both, each min-max normalised).")
@click.option("--format", "-f", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to this file (atomically) instead of stdout.")
@ON_ERROR_OPTION
@runtime_options
def search(
    inputs: tuple[str, ...], query: str, column: str, k: int, mode: str, fmt: str, output: str | None, on_error: str,
    model: str | None, device: str | None, batch_size: int | None, progress: bool,
) -> None:
    """Find the K rows of Parquet files most relevant to QUERY.

    INPUTS are Parquet files or quoted glob patterns; QUERY comes last. Prints every input column plus
    score and rank, best first. Embeddings are cached (SQLML_CACHE=0 turns that off), so searching the
    same files again only embeds the query.

    \b
    Examples:
      sqlml search articles.parquet --column body "central bank raises interest rates" -k 5
      sqlml search 'data/*.parquet' -c body "election results" --mode lexical -f json
    """
    from sqlml.cli.output import show_duckdb_progress, write_query
    from sqlml.jobs.parquet import expand_inputs, read_text_table
    from sqlml.ops.relevance.scores import check_k
    from sqlml.sql import connect

    check_k(k, "sqlml_search")  # the query's BIGINT k would refuse a larger one with a binder error, not this message
    # read as the column jobs read (binary text, rows that are not UTF-8 left to on_error), before any model loads
    table = read_text_table(expand_inputs(list(inputs)), column)
    from sqlml.sql.quoting import quote_literal

    # SQL text, not parameters: write_query runs one SQL text as the user would
    sql = f"SELECT * FROM sqlml_search('search_input', {quote_literal(column)}, {quote_literal(query)}, k := {k}, mode := {quote_literal(mode)}, on_error := {quote_literal(on_error)})"
    with connect(model=model, device=device, batch_size=batch_size) as con:
        show_duckdb_progress(con, progress, output)
        con.register("search_input", table)
        write_query(con, sql, fmt, output)
    if fmt == "table" or output is None:
        click.echo()


@main.group()
def cache() -> None:
    """Inspect or empty the persistent embedding cache.

    embed, relevance, top_k_sentences and sqlml_search keep every embedding they compute in
    $SQLML_HOME/cache/embeddings.sqlite, keyed by model fingerprint and text hash, so repeated queries
    over the same texts embed nothing. SQLML_CACHE=0 turns it off; SQLML_CACHE_MAX_MB bounds its size
    (default 2048; the oldest entries go first).

    \b
    Examples:
      sqlml cache info
      sqlml cache clear
    """


@cache.command("info")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
def cache_info_command(fmt: str) -> None:
    """Show where the cache is, whether it is on, its entries and size, and entries per model.

    \b
    Example:
      sqlml cache info --format json
    """
    import json

    from sqlml.engine.cache import cache_info

    info = cache_info()
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"path:     {info['path']}")
    state = "yes" if info["enabled"] else f"no ({info['disabled_because']})"
    click.echo(f"enabled:  {state}")
    click.echo(f"entries:  {info['entries']:,}")
    click.echo(f"size:     {info['bytes_used'] / 2**20:,.1f} MiB used, {info['file_bytes'] / 2**20:,.1f} MiB on disk, bound {info['max_bytes'] / 2**20:,.0f} MiB")
    for name, count in info["models"].items():
        click.echo(f"model:    {name}  {count:,} entries")


@cache.command("clear")
def cache_clear_command() -> None:
    """Delete every cached embedding (they are recomputed when next needed).

    \b
    Example:
      sqlml cache clear
    """
    from sqlml.engine.cache import clear_cache, open_cache
    from sqlml.errors import ConfigError, SqlmlWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SqlmlWarning)  # the error below tells the same cause, with the fix for clearing
        removed = clear_cache()
    cache = open_cache()
    if cache.disabled_because is not None:
        raise ConfigError(f"cannot clear the embedding cache {str(cache.path)!r} ({cache.disabled_because}); point SQLML_HOME at a "
                          "folder sqlml may write, or remove the file by hand")
    click.echo(f"removed {removed:,} cached embeddings")


#: Like :data:`runtime_options`, but the embedding model is ``--embedding-model`` (``--model`` names a classifier).
classifier_options = model_flags(
    click.option("--embedding-model", default=None, metavar="NAME", help="Embedding model under zero-shot labels and trained heads: 'default', a local directory or a cached hub id. [env: SQLML_MODEL]")
)


@main.command()
@click.argument("name")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--text", "text_column", required=True, help="The text column.")
@click.option("--label", "label_column", required=True, help="The label column (cast to text).")
@click.option("--method", type=click.Choice(["lr", "finetune"]), default="lr", show_default=True,
              help="lr: logistic regression on the embeddings (seconds). finetune: fine-tune the embedding model on the rows first, then the logistic regression (minutes on a CPU; more accurate with few rows per label, see docs/classify.md).")
@click.option("--features", metavar="embedding+words|embedding", default=None,
              help="What the logistic regression reads: 'embedding+words', the embeddings (fine-tuned ones with --method finetune) beside TF-IDF word 1-2-grams of the training texts, or 'embedding', the embeddings alone. [default: embedding+words for lr, embedding for finetune]")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimiser steps of --method finetune [default: by row count, at most 800].")
@click.option("--c", "c", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True, help="Inverse regularisation strength of the logistic regression.")
@click.option("--test-size", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True, help="Held-out share for the reported accuracy and macro-F1 and the calibration of the scores (0: neither).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split.")
@classifier_options
def train(name: str, inputs: tuple[str, ...], text_column: str, label_column: str, method: str, features: str | None, steps: int | None, c: float,
          test_size: float, seed: int, embedding_model: str | None, device: str | None, batch_size: int | None, progress: bool) -> None:
    """Train a classifier head NAME on labelled rows of Parquet files and store it.

    A logistic regression on the texts' embeddings beside their word TF-IDF; with --method finetune the embedding model is
    fine-tuned on the rows first and stored with the head. A stratified --test-size share is held out
    to print accuracy and macro-F1, then the head is trained on all rows and stored as the next version
    of NAME (NAME@1, NAME@2, ...) under $SQLML_HOME/heads. Rows with an empty (NULL) text or label are
    skipped. Use it with `sqlml classify --model NAME`, classify(x, model := 'NAME') in SQL, or
    sqlml.classify(texts, model='NAME').

    \b
    Example:
      sqlml train topics train_news.parquet --text body --label category
      sqlml train intents tickets.parquet --text text --label intent --method finetune --test-size 0
      sqlml classify new_news.parquet --column body --model topics -o labelled.parquet
    """
    from sqlml.errors import InvalidArgumentError
    from sqlml.jobs.parquet import expand_inputs, read_labelled
    from sqlml.ops.classify.train import train_classifier

    if label_column == text_column:
        raise InvalidArgumentError(f"--text and --label both name column {text_column!r}; the label must be another column")
    texts, labels = read_labelled(expand_inputs(list(inputs)), text_column, label_column, "train")
    result = train_classifier(
        name, texts, labels,
        embedding_model=embedding_model, method=method, features=features, steps=steps, c=c, test_size=test_size, seed=seed, device=device,
        batch_size=batch_size, show_progress=progress,
    )
    click.echo(str(result))


def _label_list(labels: str | None) -> list[str] | None:
    """``--labels a,b`` as a list, names stripped; a blank item stays as given, for the core to refuse by name."""
    if labels is None:
        return None
    return [item.strip() or item for item in labels.split(",")] if labels.strip() else []


def _refined_classify_job(inputs: list[str], output: str, column: str, new_column: str | None, labels: str | None, model: str | None,
                          scores: bool, template: str | None, temperature: float | None, on_error: str,
                          embedding_model: str | None, device: str | None, batch_size: int | None, progress: bool, engine: str,
                          resume: bool) -> None:
    """``sqlml classify --refine``: every row of the inputs classified in one call (refined labels depend on all rows)."""
    from sqlml.api import classify as classify_texts
    from sqlml.api import classify_scores
    from sqlml.errors import InvalidArgumentError
    from sqlml.jobs.parquet import map_parquet

    if model is not None:
        raise InvalidArgumentError("--refine refines zero-shot --labels; a --model classifier is used as trained: leave --refine off")
    if engine != "local":
        raise InvalidArgumentError("--refine needs every row in one process (a row's label depends on the others); use --engine local")
    if resume:
        raise InvalidArgumentError("--refine has no checkpoints to resume (every row is classified in one call); run it again without --resume")
    function = classify_scores if scores else classify_texts

    def compute(texts: Any) -> Any:
        return function(texts, _label_list(labels), model, embedding_model=embedding_model, template=template, temperature=temperature,
                        device=device, batch_size=batch_size, show_progress=progress, output="arrow", on_error=on_error, refine=True)

    rows = map_parquet(inputs, output, column, new_column or ("scores" if scores else "label"), compute, whole=True)
    click.echo(f"wrote {rows} rows to {output}", err=True)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--column", "-c", required=True, help="The text column to classify.")
@click.option("--labels", default=None, metavar="A,B,C", help="Zero-shot: comma-separated label names (or descriptions).")
@click.option("--model", default=None, metavar="NAME", help="A trained classifier (NAME or NAME@VERSION) or a Hugging Face sequence-classifier folder.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output Parquet file (written atomically), or folder with --engine ray.")
@click.option("--scores", is_flag=True, help="Add every label's probability (LIST<STRUCT<label, score>>, highest first) instead of the label.")
@click.option("--as", "new_column", default=None, help="Name of the added column [default: label, or scores with --scores].")
@click.option("--template", default=None, help="Zero-shot prompt with {label} [default: 'This text is about {label}.'].")
@click.option("--temperature", type=float, default=None,
              help="Zero-shot softmax temperature: lower gives more confident scores [default: 0.05; 0.07 with --refine].")
@click.option("--refine", is_flag=True,
              help="Zero-shot labels refined over every row of the inputs (docs/classify.md: better labels on sets of "
                   "~100+ rows of one kind; a row's label then depends on the others). Reads every row into memory; "
                   "local engine, template '{label}' unless given.")
@ON_ERROR_OPTION
@classifier_options
@engine_options
def classify(inputs: tuple[str, ...], column: str, labels: str | None, model: str | None, output: str, scores: bool,
             new_column: str | None, template: str | None, temperature: float | None, refine: bool, on_error: str,
             embedding_model: str | None, device: str | None, batch_size: int | None, progress: bool, engine: str,
             address: str | None, num_gpus: float | None, concurrency: int | None, resume: bool) -> None:
    """Add a predicted label column to Parquet files.

    Give --labels for zero-shot classification (labels compared with the text in embedding space) or
    --model for a classifier trained with `sqlml train` or a local Hugging Face sequence classifier.
    INPUTS are Parquet files or quoted glob patterns; every input column is kept. NULL text gives NULL.

    \b
    Examples:
      sqlml classify news.parquet --column body --labels business,sport,politics,tech -o topics.parquet
      sqlml classify news.parquet --column body --model topics --scores -o scored.parquet
      sqlml classify reviews.parquet --column text --model ./sentiment-model -o sentiment.parquet
      sqlml classify tickets.parquet --column text --labels billing,login,bug --refine -o tickets_labelled.parquet
    """
    from sqlml.ops.classify.core import check_choice

    check_choice("classify", labels is not None, model)  # before any file is read or a Ray cluster is started
    if refine:
        _refined_classify_job(list(inputs), output, column, new_column, labels, model, scores, template, temperature, on_error,
                              embedding_model, device, batch_size, progress, engine, resume)
        return
    options = {
        "labels": _label_list(labels), "model": model, "scores": scores,
        "template": template, "temperature": temperature, "embedding_model": embedding_model, "device": device,
        "batch_size": batch_size, "on_error": on_error,
    }
    name = new_column or ("scores" if scores else "label")
    rows = _column_job(list(inputs), output, "classify", column, name, options, engine=engine, resume=resume, show_progress=progress,
                       address=address, num_gpus=num_gpus, concurrency=concurrency)
    click.echo(f"wrote {rows} rows to {output}", err=True)


@main.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
def models(fmt: str) -> None:
    """List known and loaded models (name, id, kind, dimension, device, dtype, accuracy, macro_f1).

    The embedded default (all-MiniLM-L6-v2) is always listed; models appear with a device once loaded.
    Trained classifier heads are listed per version (NAME@VERSION, kind classifier-head, dimension =
    number of labels) with their held-out accuracy and macro-F1.

    \b
    Example:
      sqlml models --format json
    """
    import json

    from sqlml.models.catalog import list_models

    listing = list_models()
    click.echo(json.dumps([m.as_dict() for m in listing], indent=2) if fmt == "json" else str(listing))


@main.command()
@runtime_options
def demo(model: str | None, device: str | None, batch_size: int | None, progress: bool) -> None:
    """Run the main job on the bundled sample articles and print the results.

    Uses the embedded default model; needs no network and no files of your own.
    """
    from sqlml.cli.demo import demo_queries
    from sqlml.resources import sample_articles_path
    from sqlml.sql import connect

    articles = sample_articles_path()
    click.echo(f"sqlml demo on {articles.name} (36 news-style articles written for sqlml)\n")
    with connect(model=model, device=device, batch_size=batch_size) as con:
        for title, sql in demo_queries(articles):
            click.echo(f"-- {title}")
            click.echo(str(con.sql(sql)))
    click.echo("Try your own: sqlml query \"SELECT ... FROM 'your.parquet'\"", err=True)


# the index group lives in its own module, which imports this one's shared options
from sqlml.cli.index import index  # noqa: E402

main.add_command(index)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
