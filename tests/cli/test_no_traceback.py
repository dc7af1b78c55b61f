"""No traceback reaches a CLI user: every command, over a table of bad inputs, fails with one ``Error:`` line."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

import sqlml
from sqlml.cli import main

REPO = Path(sqlml.__file__).resolve().parents[1]


def every_command(group: click.Group = main, prefix: tuple[str, ...] = ()) -> dict[str, tuple[tuple[str, ...], click.Command]]:
    """Every runnable command, sub-groups' included: ``{'cache info': (('cache', 'info'), command), ...}``."""
    found = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found.update(every_command(command, path))
        else:
            found[" ".join(path)] = (path, command)
    return found


COMMANDS = every_command()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Good and bad inputs, by name."""
    folder = tmp_path_factory.mktemp("inputs")
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "body": ["A first text.", None, "Third text. It has two sentences.", "Fourth."],
                             "category": ["a", "b", "a", "b"]}), folder / "ok.parquet")
    pq.write_table(pa.table({"id": ["x", "y"], "body": ["More text.", "And more."], "category": ["b", "a"]}), folder / "clash.parquet")
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "text.parquet").write_text("id,body\n1,hello\n", encoding="utf-8")
    (folder / "a-file").write_text("not a folder", encoding="utf-8")
    (folder / "dir.parquet").mkdir()
    return {name: str(folder / name) for name in ("ok.parquet", "clash.parquet", "empty.parquet", "text.parquet", "a-file", "dir.parquet")} | {
        "folder": str(folder), "missing": str(folder / "missing.parquet")}


#: Optional parameters given anyway: the tiny model on CPU, no progress bar, labels for zero-shot classify
#: (its --model then stays unset: it names a classifier), no held-out split of the few training rows.
ALWAYS = {"model", "embedding_model", "device", "progress", "labels", "test_size"}


def good_values(files: dict[str, str], tiny_model_dir: Path, out: Path) -> dict[str, list[str]]:
    """Valid command-line words for each parameter a command may require, by parameter name."""
    return {
        "inputs": [files["ok.parquet"]], "column": ["--column", "body"], "output": ["-o", str(out)], "sql": ["SELECT len(embed('x')) AS d"],
        "query": ["a first text"], "name": ["topics"], "text_column": ["--text", "body"], "label_column": ["--label", "category"],
        "labels": ["--labels", "a,b"], "model": ["--model", str(tiny_model_dir)], "embedding_model": ["--embedding-model", str(tiny_model_dir)],
        "device": ["--device", "cpu"], "progress": ["--no-progress"], "test_size": ["--test-size", "0"], "key": ["--key", "id"],
    }


#: One bad value per case: (case, parameter, its words). A command gets every case whose parameter it has.
BAD_INPUTS = [
    ("missing file", "inputs", lambda f: [f["missing"]]),
    ("folder as input", "inputs", lambda f: [f["folder"]]),
    ("empty file", "inputs", lambda f: [f["empty.parquet"]]),
    ("not parquet", "inputs", lambda f: [f["text.parquet"]]),
    ("schema conflict", "inputs", lambda f: [f["ok.parquet"], f["clash.parquet"]]),
    ("wrong column", "column", lambda f: ["--column", "no_such_column"]),
    ("non-text column", "column", lambda f: ["--column", "id"]),
    ("wrong text column", "text_column", lambda f: ["--text", "no_such_column"]),
    ("wrong label column", "label_column", lambda f: ["--label", "no_such_column"]),
    ("text column as label", "label_column", lambda f: ["--label", "body"]),
    ("n zero", "n", lambda f: ["-n", "0"]),
    ("n negative", "n", lambda f: ["-n", "-2"]),
    ("n not a number", "n", lambda f: ["-n", "three"]),
    ("max words zero", "max_words", lambda f: ["--max-words", "0"]),
    ("k zero", "k", lambda f: ["-k", "0"]),
    ("k negative", "k", lambda f: ["-k", "-1"]),
    ("output under /proc", "output", lambda f: ["-o", "/proc/sqlml-out.parquet"]),
    ("output under /sys", "output", lambda f: ["-o", "/sys/sqlml-out.parquet"]),
    ("output in a missing folder", "output", lambda f: ["-o", os.path.join(f["missing"], "out.parquet")]),
    ("output under a file", "output", lambda f: ["-o", os.path.join(f["a-file"], "out.parquet")]),
    ("output is a folder", "output", lambda f: ["-o", f["dir.parquet"]]),
    ("unknown model", "model", lambda f: ["--model", "no-such-model"]),
    ("5000-char model name", "model", lambda f: ["--model", "m" * 5000]),
    ("unknown embedding model", "embedding_model", lambda f: ["--embedding-model", "no-such-model"]),
    ("5000-char embedding model", "embedding_model", lambda f: ["--embedding-model", "e" * 5000]),
    ("unknown device", "device", lambda f: ["--device", "tpu"]),
    ("batch size zero", "batch_size", lambda f: ["--batch-size", "0"]),
    ("unknown on_error", "on_error", lambda f: ["--on-error", "ignore"]),
    ("unknown mode", "mode", lambda f: ["--mode", "fuzzy"]),
    ("unknown format", "fmt", lambda f: ["--format", "xml"]),
    ("bad SQL", "sql", lambda f: ["SELEC 1"]),
    ("SQL over a missing file", "sql", lambda f: [f"SELECT * FROM '{f['missing']}'"]),
    ("empty labels", "labels", lambda f: ["--labels", " , "]),
    ("empty query", "query", lambda f: [""]),
    ("bad test size", "test_size", lambda f: ["--test-size", "1.5"]),
    ("unknown features", "features", lambda f: ["--features", "words"]),
    ("Ray resume", "resume", lambda f: ["--engine", "ray", "--resume"]),
    ("invalid name", "name", lambda f: ["../up"]),
    ("wrong key column", "key", lambda f: ["--key", "no_such_column"]),
    ("refine on Ray", "refine", lambda f: ["--refine", "--engine", "ray"]),
    ("refine with resume", "refine", lambda f: ["--refine", "--resume"]),
]


def invocation(path: tuple[str, ...], command: click.Command, values: dict[str, list[str]], bad: str, words: list[str]) -> list[str]:
    """The command line of ``command`` with every required parameter valid, except ``bad`` → ``words``."""
    args: list[str] = []
    arguments: list[str] = []
    names = {p.name for p in command.params}
    for param in command.params:
        given = words if param.name == bad else values.get(str(param.name))
        if param.name != bad and not param.required and (param.name not in ALWAYS or (param.name, bad) == ("labels", "model")
                                                          or (param.name == "model" and "labels" in names)):
            given = None
        if given is None:
            assert not param.required, f"add a valid value for {param.name!r} of `sqlml {' '.join(path)}` to good_values()"
            continue
        if isinstance(param, click.Argument):
            arguments += given
        else:
            args += given
    if bad == "output" and "fmt" in names:
        args += ["--format", "csv"]
    return [*path, *args, "--", *arguments] if arguments else [*path, *args]


CASES = [(name, case) for name, (_, command) in COMMANDS.items() for case, param, _ in BAD_INPUTS
         if param in {p.name for p in command.params}]
CASES += [(name, "unknown flag") for name in COMMANDS]


def test_every_command_meets_a_bad_input() -> None:
    assert {name for name, case in CASES if case != "unknown flag"} >= set(COMMANDS) - {"cache clear"}


def one_error_line(result: Result) -> str:
    """The output of a failed command, checked: no traceback, exactly one ``Error:`` line; that line."""
    text = result.output
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.fixture
def values(files: dict[str, str], tiny_model_dir: Path, tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    yield good_values(files, tiny_model_dir, tmp_path / "out.parquet")


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}: {c}" for n, c in CASES])
def test_a_bad_input_gives_one_error_line(name: str, case: str, files: dict[str, str], values: dict[str, list[str]],
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLML_CACHE", "0")
    monkeypatch.chdir(tmp_path)
    path, command = COMMANDS[name]
    if case == "unknown flag":
        args = [*path, "--no-such-flag"]
    else:
        param, make = next((p, m) for c, p, m in BAD_INPUTS if c == case)
        args = invocation(path, command, values, param, make(files))
    result = CliRunner().invoke(main, args)
    one_error_line(result)
    assert result.exit_code in (1, 2), result.output
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_same_text_and_label_column_names_the_fix(files: dict[str, str], tiny_model_dir: Path) -> None:
    result = run("train", "topics", files["ok.parquet"], "--text", "body", "--label", "body", "--embedding-model", str(tiny_model_dir))
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: --text and --label both name column 'body'; the label must be another column"


def test_output_under_proc_names_the_path_and_the_fix(files: dict[str, str], tiny_model_dir: Path) -> None:
    result = run("embed", files["ok.parquet"], "-c", "body", "-o", "/proc/sqlml-out.parquet", "--model", str(tiny_model_dir))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "/proc/" in line and "; " in line


def test_an_unexpected_error_is_one_line_that_says_how_to_see_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlml.models import catalog

    def broken() -> None:
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(catalog, "list_models", broken)
    result = run("models")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "Error: unexpected ZeroDivisionError: division by zero; rerun with SQLML_DEBUG=1 to see the traceback, and please report it")
    monkeypatch.setenv("SQLML_DEBUG", "1")
    assert isinstance(run("models").exception, ZeroDivisionError)


@pytest.mark.parametrize("sql", ["SELECT 42 AS answer -- the answer", "SELECT 1 AS one; SELECT 42 AS answer", "SELECT 42 AS answer;\n-- done\n",
                                 "SELECT 42 AS answer -- 金利 café 🚀\n;"])
def test_query_to_a_file_runs_the_sql_as_written(sql: str, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run("query", sql, "-f", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == "answer\n42\n"
    assert run("query", sql, "-f", "jsonl").output.strip() == '{"answer":42}'


def test_a_query_error_shows_the_users_sql_not_an_internal_copy(tmp_path: Path) -> None:
    result = run("query", "SELECT 1 AS one; SELEC 2", "-f", "csv", "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1
    assert one_error_line(result) == 'Error: Parser Error: syntax error at or near "SELEC"'
    assert "COPY" not in result.output and ".partial" not in result.output and "LINE 1: SELECT 1 AS one; SELEC 2" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_query_without_rows_to_write_says_so(tmp_path: Path) -> None:
    result = run("query", "-f", "csv", "-o", str(tmp_path / "out.csv"), "--", "-- nothing but a comment")
    assert result.exit_code == 1
    assert one_error_line(result) == (f"Error: the SQL's last statement returns no rows to write to {str(tmp_path / 'out.csv')!r}; "
                                      "end it with a SELECT")


def limited_file_size() -> None:
    """The child may write at most 64 KiB per file, and a bigger write fails with EFBIG instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, 65_536))


@pytest.mark.parametrize("command", ["embed", "query"])
def test_a_full_disk_is_one_error_line(command: str, tmp_path: Path, tiny_model_dir: Path) -> None:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"body": [f"text number {i} " * 5 for i in range(3000)]}), source)
    if command == "embed":
        args = ["embed", str(source), "-c", "body", "-o", str(out), "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    else:
        args = ["query", "SELECT md5(range::VARCHAR) AS h FROM range(100000)", "-f", "parquet", "-o", str(out)]
    env = {**os.environ, "SQLML_CACHE": "0", "PYTHONPATH": str(REPO)}
    job = subprocess.run([sys.executable, "-m", "sqlml.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, preexec_fn=limited_file_size)
    assert job.returncode == 1, job.stderr
    assert "Traceback" not in job.stderr
    errors = [line for line in job.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "File too large" in errors[0], job.stderr
    assert not out.exists()


# -- columns the commands cannot read as text, and DuckDB's internals kept from the user ---------------------
def not_utf8(values: list[bytes | None]) -> pa.StringArray:
    """A ``pa.string()`` array holding ``values`` unchecked, as a Parquet writer that trusts its data stores them."""
    return pa.array(values, pa.binary()).view(pa.string())


@pytest.mark.parametrize(("body", "label", "message"), [
    (not_utf8([b"fine", b"\xff\xfe bad", b"also fine"]), ["a", "b", "a"],
     "train: row 2 of 3 in column 'body' (text of 6 bytes starting '\ufffd\ufffd bad') is not valid UTF-8 (bytes that do not "
     "decode are shown as \ufffd); fix or filter that row"),
    (["one", "two", "three"], pa.array([b"a", b"\xff\xfe bad", b"a"], pa.binary()),
     "train: row 2 of 3 in column 'category' (text of 6 bytes starting '\ufffd\ufffd bad') is not valid UTF-8 (bytes that do "
     "not decode are shown as \ufffd); fix or filter that row"),
    (["one", "two", "three"], [["a"], ["b"], ["a"]],
     "train: column 'category' has type list<element: string>, which cannot be read as labels; choose a column of text or "
     "numbers, or cast it first"),
], ids=["text not UTF-8", "binary label not UTF-8", "list label"])
def test_train_names_a_column_it_cannot_read(body: object, label: object, message: str, tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": body, "category": label}), source)
    result = run("train", "topics", str(source), "--text", "body", "--label", "category", "--embedding-model", str(tiny_model_dir),
                 "--device", "cpu", "--no-progress")
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: {message}"


def search_words(source: Path, tiny_model_dir: Path, *extra: str) -> list[str]:
    return ["search", str(source), "-c", "body", "rates", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", *extra]


def test_search_reads_a_binary_text_column_as_embed_does(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2], "body": pa.array([b"rates rise", b"football"], pa.binary())}), source)
    result = run(*search_words(source, tiny_model_dir, "-f", "jsonl", "--mode", "lexical"))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line]
    assert [(row["id"], row["body"], row["rank"]) for row in rows] == [(1, "rates rise", 1)]


@pytest.mark.parametrize("k", ["99999999999999999999999", "-99999999999999999999999", "9223372036854775808"])
def test_search_k_past_what_sql_holds_is_one_line(k: str, files: dict[str, str], tiny_model_dir: Path) -> None:
    result = run(*search_words(Path(files["ok.parquet"]), tiny_model_dir, "-k", k))
    assert result.exit_code == 1
    assert one_error_line(result).startswith(f"Error: sqlml_search: k must be a whole number >= 1, got {k}")


def test_a_duckdb_error_shows_no_candidate_function_lists() -> None:
    result = run("query", "SELECT lower(1, 2)")
    assert result.exit_code == 1
    assert one_error_line(result).startswith("Error: Binder Error: No function matches the given name and argument types 'lower(")
    assert "Candidate functions" not in result.output and len(result.output.splitlines()) == 1


def test_the_formatter_keeps_the_first_line_of_duckdb_errors_and_the_position_in_the_users_own_sql() -> None:
    import duckdb

    from sqlml.cli.failures import describe

    error = duckdb.BinderException("Binder Error: No function matches 'f(BLOB)'.\n\tCandidate functions:\n\tf(VARCHAR)\n\n"
                                   "LINE 1: SELECT f(x)\n               ^")
    assert describe(error) == "Binder Error: No function matches 'f(BLOB)'."
    assert describe(error, own_sql=True) == "Binder Error: No function matches 'f(BLOB)'.\nLINE 1: SELECT f(x)\n               ^"
