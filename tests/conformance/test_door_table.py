"""The door table (doors.SURFACE) is complete for the public SQL surface and true to each door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sqlml

from .doors import DOOR_NAMES, SURFACE, NotOffered, offered

UDFS = Path(__file__).resolve().parents[2] / "udfs"


def public_macros() -> set[str]:
    """Every ``CREATE [OR REPLACE] MACRO sqlml.main.NAME`` of udfs/*.sql whose name does not start with ``_``
    (the macros' private helpers): the public SQL functions."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(UDFS.glob("*.sql")))
    return set(re.findall(r"CREATE\s+(?:OR\s+REPLACE\s+)?MACRO\s+sqlml\.main\.((?!_)\w+)", text, flags=re.IGNORECASE))


def test_the_table_names_every_public_sql_function_and_every_door() -> None:
    macros = public_macros()
    assert macros, f"no macros found in {UDFS}"
    assert set(SURFACE) == macros, f"missing from the table: {sorted(macros - set(SURFACE))}; not public functions: {sorted(set(SURFACE) - macros)}"
    for function, doors in SURFACE.items():
        assert tuple(doors) == DOOR_NAMES, f"{function}: give every door an entry point or a NotOffered reason"
        for door, entry in doors.items():
            assert entry if isinstance(entry, str) else len(entry.reason) > 20, f"{function}/{door}: say why"
        assert not isinstance(doors["sql"], NotOffered) and not isinstance(doors["cli"], NotOffered), (
            f"{function}: SQL has every public function and the CLI reaches it through `sqlml query`"
        )


def test_every_public_function_is_registered_on_a_connection() -> None:
    with sqlml.connect() as con:
        names = {r[0] for r in con.sql("SELECT function_name FROM duckdb_functions() WHERE database_name = 'sqlml'").fetchall()}
    assert public_macros() <= names


@pytest.mark.parametrize("function", sorted(offered("python")))
def test_python_entry_points_exist(function: str) -> None:
    entry = str(SURFACE[function]["python"]).split()[0]
    assert entry.startswith("sqlml.")
    target = sqlml
    for part in entry.removeprefix("sqlml.").split("."):  # a method of a public class: sqlml.Index.search
        target = getattr(target, part)
    assert callable(target)


@pytest.mark.parametrize("function", sorted(SURFACE))
def test_cli_commands_exist(function: str) -> None:
    from sqlml.cli import main

    command = str(SURFACE[function]["cli"]).split()[1]
    assert command in main.commands, f"`sqlml {command}` is not a command"


@pytest.mark.parametrize("function", sorted(SURFACE))
def test_ray_adapters_match_the_table(function: str) -> None:
    """An adapter the table calls missing, or a new adapter the table says is missing, fails here."""
    import sqlml.ray as sr

    entry = SURFACE[function]["ray"]
    public = {name for name in dir(sr) if not name.startswith("_") and callable(getattr(sr, name))}
    if isinstance(entry, NotOffered):
        name = function.removeprefix("sqlml_")
        candidates = {function, name, f"{name}_classifier", f"list_{name}"}
        if function == "embed_list":
            return  # sqlml.ray.embed is the adapter for both (see the reason)
        if function == "sqlml_classify":
            return  # sqlml.ray.classify is classify's per-row adapter, not the whole-table refinement (see the reason)
        assert not candidates & public, f"sqlml.ray now has {candidates & public}: add the Ray door for {function}"
    else:
        adapter = entry.removeprefix("sqlml.ray.").split("(")[0]
        assert adapter in public
