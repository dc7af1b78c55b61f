"""What every ``sqlml`` command shares: the command class that turns failures into one line, and the common flags."""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable
from typing import Any

import click

from sqlml.errors import SqlmlError

FORMAT_CHOICE = click.Choice(["table", "csv", "json", "jsonl", "parquet"])


class SqlmlCommand(click.Command):
    """A command whose failures reach the user as one ``Error: ...`` line (:mod:`sqlml.cli.failures`), exit code 1.

    Ctrl-C gives one line and exit code 130; click's own usage errors keep exit code 2. Warnings show as one
    ``Warning: ...`` line each.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from sqlml.cli import failures

        try:
            with warnings.catch_warnings():
                failures.show_warnings()
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise failures.interrupted(_resumable(ctx)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader of stdout went away (| head): click exits quietly
            raise _failure(exc, ctx) from exc
        except Exception as exc:
            if failures.from_duckdb(exc) and type(exc).__name__ == "InterruptException":  # Ctrl-C inside a query
                raise failures.interrupted(False) from None
            raise _failure(exc, ctx) from exc


def _resumable(ctx: click.Context) -> bool:
    """Whether the interrupted command kept its finished batches for ``--resume`` (a local column job)."""
    return "resume" in ctx.params and ctx.params.get("engine") == "local"


def _failure(exc: Exception, ctx: click.Context) -> Exception:
    """``exc`` as one ``Error:`` line; unexpected errors keep their traceback under ``SQLML_DEBUG=1``."""
    from sqlml.cli import failures

    if not isinstance(exc, SqlmlError) and not failures.from_duckdb(exc) and not isinstance(exc, OSError) and failures.debugging():
        return exc
    output = ctx.params.get("output")
    own_sql = ctx.command.name == "query"  # the one command whose SQL the user wrote
    return click.ClickException(failures.describe(exc, None if output is None else str(output), own_sql=own_sql))


class SqlmlGroup(click.Group):
    """The ``sqlml`` group: its commands (and sub-groups) are :class:`SqlmlCommand` s."""

    command_class = SqlmlCommand
    group_class = type  # sub-groups (``sqlml cache``) are SqlmlGroups too


def model_flags(model_option: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding ``model_option`` and the device/batch/progress flags every model command shares."""
    options = [
        model_option,
        click.option("--device", default=None, metavar="DEVICE", help="auto (cuda → mps → cpu), cpu, cuda, cuda:N or mps. [env: SQLML_DEVICE]"),
        click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Rows per model batch (64 on CPU, 16,384 on GPU). [env: SQLML_BATCH_SIZE]"),
        click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr for long jobs."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


#: The model/device/batch/progress flags shared by every command that runs a model.
runtime_options = model_flags(
    click.option("--model", default=None, metavar="NAME", help="Embedding model: 'default', a local directory or a cached hub id. [env: SQLML_MODEL]")
)


ON_ERROR_OPTION = click.option(
    "--on-error", metavar="raise|null", default="raise", show_default=True,
    help="raise: stop at the first row whose text makes the model fail, naming it. null: write NULL for such rows "
         "(counted) and keep going. Invalid options raise either way.",
)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Flags choosing where a column job runs: this machine, or a Ray cluster."""
    options = [
        click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this process, one output file. ray: Ray Data actors, -o names an output folder (needs sqlml[ray])."),
        click.option("--address", default=None, metavar="ADDR", help="Ray cluster address ('auto' joins a running cluster); default: start a local one."),
        click.option("--num-gpus", type=click.FloatRange(min=0), default=None, help="GPUs per Ray actor (fractions pack small models onto one GPU)."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Number of Ray actors (default 1)."),
        click.option("--resume", is_flag=True, help="Continue an interrupted local job from its saved batches instead of starting over."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
