"""Reference docs generated from the sources of truth: ``udfs/*.sql`` comments and the CLI's ``--help``.

``python -m sqlml.cli.reference docs/`` rewrites ``docs/sql-reference.md`` and ``docs/cli-reference.md``; a
test fails when a public SQL function has no comment block or the committed files are stale.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_MACRO = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?MACRO\s+sqlml\.main\.(\w+)\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class SqlFunction:
    """A public SQL function: its name, its file, and the comment block above its macro."""

    name: str
    file: str
    doc: str


def sql_functions(udfs_dir: Path | None = None) -> list[SqlFunction]:
    """Every public macro in ``udfs/*.sql`` with the ``--`` comment lines directly above it."""
    from sqlml.resources import udfs_dir as default_dir

    found = []
    for path in sorted((udfs_dir or default_dir()).glob("*.sql")):
        comment: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("--"):
                comment.append(stripped[2:].removeprefix(" "))
                continue
            match = _MACRO.search(line)
            if match and not match.group(1).startswith("_"):  # private helpers of the macros are no public function
                found.append(SqlFunction(match.group(1), path.name, "\n".join(comment).strip()))
            if stripped == "" or match:
                comment = []
    return found


def sql_reference() -> str:
    """Markdown for every public SQL function, grouped by file."""
    lines = ["# SQL function reference", "", "Generated from the comments in `udfs/*.sql` (`python -m sqlml.cli.reference docs/`).", ""]
    current = None
    for fn in sql_functions():
        if fn.file != current:
            current = fn.file
            lines += [f"## `udfs/{fn.file}`", ""]
        lines += [f"### `{fn.name}`", "", "```", fn.doc or "(undocumented)", "```", ""]
    return "\n".join(lines)


def cli_reference() -> str:
    """Markdown with the ``--help`` text of ``sqlml`` and each of its commands."""
    import click

    from sqlml.cli import main

    lines = ["# CLI reference", "", "Generated from `--help` (`python -m sqlml.cli.reference docs/`).", ""]
    fixed = {"terminal_width": 100, "max_content_width": 100, "help_option_names": ["-h", "--help"]}  # same text on every terminal
    root = click.Context(main, info_name="sqlml", **fixed)
    lines += ["## `sqlml`", "", "```", main.get_help(root), "```", ""]
    for name in sorted(main.commands):
        command = main.commands[name]
        ctx = click.Context(command, info_name=name, parent=root, **fixed)
        lines += [f"## `sqlml {name}`", "", "```", command.get_help(ctx), "```", ""]
    return "\n".join(lines)


def write(docs_dir: Path) -> list[Path]:
    """Regenerate both reference files under ``docs_dir``; return their paths."""
    outputs = {docs_dir / "sql-reference.md": sql_reference(), docs_dir / "cli-reference.md": cli_reference()}
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
    return list(outputs)


if __name__ == "__main__":
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(written)
