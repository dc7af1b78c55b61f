from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from sqlml.cli import main


def every_command() -> list[str]:
    return sorted(main.commands)


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    path = tmp_path / "articles.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "body": ["First text.", None, "Third text here."], "tag": ["a", "b", "c"]}), path)
    return path


def run(*args: str) -> "CliRunner.invoke":
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", every_command())
def test_every_command_has_teaching_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    text = result.output
    assert len(main.commands[command].help or "") > 40
    assert "Usage: main " in text or "Usage: sqlml " in text or "Usage:" in text


def test_top_level_help_lists_examples() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "sqlml demo" in result.output and "Examples" in result.output


def test_help_is_instant_and_imports_no_model_code() -> None:
    code = "import sys, time; t=time.time(); from sqlml.cli import main; print(time.time()-t); print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sqlml.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 2.0  # generous for a loaded CI machine; measured ~0.15 s


def test_query_table_output(tiny_model_dir: Path, articles: Path) -> None:
    result = run("query", f"SELECT id, len(embed(body)) AS d FROM '{articles}' ORDER BY id", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress")
    assert result.exit_code == 0
    assert "│     1 │    32 │" in result.output and "NULL" in result.output


def test_query_jsonl_to_stdout(tiny_model_dir: Path, articles: Path) -> None:
    result = run("query", f"SELECT id, tag FROM '{articles}' ORDER BY id", "-f", "jsonl", "--model", str(tiny_model_dir))
    lines = [json.loads(x) for x in result.output.strip().splitlines()]
    assert lines == [{"id": 1, "tag": "a"}, {"id": 2, "tag": "b"}, {"id": 3, "tag": "c"}]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_query_to_file(tmp_path: Path, tiny_model_dir: Path, articles: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    result = run("query", f"SELECT id, embed(body) AS e FROM '{articles}'", "-f", fmt, "-o", str(out), "--model", str(tiny_model_dir))
    assert result.exit_code == 0 and out.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_failed_query_leaves_no_output_file(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["query", "SELECT * FROM no_such_table", "-f", "csv", "-o", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 1 and "Error: Catalog Error: Table with name no_such_table does not exist" in result.output
    assert list(tmp_path.iterdir()) == []


def test_embed_command_keeps_columns_and_nulls(tmp_path: Path, tiny_model_dir: Path, articles: Path) -> None:
    out = tmp_path / "embedded.parquet"
    result = run("embed", str(articles), "--column", "body", "-o", str(out), "--model", str(tiny_model_dir), "--no-progress")
    assert result.exit_code == 0
    table = pq.read_table(out)
    assert table.column_names == ["id", "body", "tag", "embedding"]
    assert table.column("embedding").type == pa.list_(pa.float32(), 32)
    assert table.column("embedding").null_count == 1


def test_embed_missing_column_names_the_columns(tmp_path: Path, articles: Path) -> None:
    result = CliRunner().invoke(main, ["embed", str(articles), "--column", "text", "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1
    assert "Error: column 'text' is not in the input; its columns are: id, body, tag" in result.output


def test_embed_missing_input_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["embed", str(tmp_path / "none.parquet"), "--column", "body", "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1 and "does not exist (no file matches)" in result.output


def test_embed_wrong_column_type(tmp_path: Path, articles: Path) -> None:
    result = CliRunner().invoke(main, ["embed", str(articles), "--column", "id", "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1 and "column 'id' has type int64, not text" in result.output


def test_models_command_lists_the_default() -> None:
    result = run("models", "--format", "json")
    rows = json.loads(result.output)
    assert rows[0]["name"] == "default" and rows[0]["dimension"] == 384


def test_demo_runs_on_bundled_articles(tiny_model_dir: Path) -> None:
    result = run("demo", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress")
    assert result.exit_code == 0 and "sqlml demo on articles.parquet" in result.output


def test_interrupted_job_resumes_without_recomputing(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlml.jobs import parquet as parquet_jobs
    from sqlml.jobs.column import ColumnOp

    monkeypatch.setattr(parquet_jobs, "READ_BATCH_ROWS", 100)
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "body": [f"text {i}" for i in range(1000)]}), source, row_group_size=100)
    out = tmp_path / "out.parquet"
    op = ColumnOp("embed", {"model": str(tiny_model_dir), "device": "cpu"})
    calls: list[int] = []
    crashed: list[bool] = []

    def crash_on_fifth_batch(texts: pa.Array) -> pa.Array:  # Ctrl-C arrives once, during the fifth batch
        calls.append(len(texts))
        if len(calls) == 5 and not crashed:
            crashed.append(True)
            raise KeyboardInterrupt
        return op(texts)

    with pytest.raises(KeyboardInterrupt):
        parquet_jobs.map_parquet(source, out, "body", "embedding", crash_on_fifth_batch)
    assert not out.exists()
    calls.clear()
    assert parquet_jobs.map_parquet(source, out, "body", "embedding", crash_on_fifth_batch, resume=True) == 1000
    assert len(calls) == 6  # batches 5..10 only: the four finished ones were not recomputed
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == list(range(1000))
    expected = parquet_jobs.map_parquet(source, tmp_path / "fresh.parquet", "body", "embedding", op)
    assert expected == 1000 and pq.read_table(tmp_path / "fresh.parquet").equals(table)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_resume_refuses_changed_inputs(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.jobs import parquet as parquet_jobs

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["a", "b"]}), source)
    out = tmp_path / "out.parquet"
    from sqlml.jobs.checkpoint import PartCheckpoint

    PartCheckpoint(out, {"inputs": "something else"}).start(resume=False)
    with pytest.raises(parquet_jobs.InvalidArgumentError, match=r"cannot resume: the inputs or options changed since the interrupted run"):
        parquet_jobs.map_parquet(source, out, "body", "e", lambda t: t, resume=True)


def test_unwritable_output_folder_fails_before_any_work(tmp_path: Path, articles: Path) -> None:
    result = CliRunner().invoke(main, ["embed", str(articles), "--column", "body", "-o", str(tmp_path / "missing" / "o.parquet")])
    assert result.exit_code == 1 and "folder" in result.output and "does not exist; create it first" in result.output


def test_search_on_error_null_skips_and_counts_a_row_that_is_not_utf8(tmp_path: Path, tiny_model_dir: Path) -> None:
    import sqlml

    source = tmp_path / "in.parquet"
    body = pa.array([b"rates rise", b"\xff\xfe rates", b"rates fall"], pa.binary()).view(pa.string())  # unchecked, as a file may hold it
    pq.write_table(pa.table({"id": [1, 2, 3], "body": body}), source)
    args = ["search", str(source), "-c", "body", "rates", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", "-f", "json"]

    def failed() -> int:
        return sum(s["value"] for s in sqlml.stats() if s["name"] == "sqlml_search" and s["metric"] == "failed_rows")

    before = failed()
    skipped = CliRunner().invoke(main, [*args, "--on-error", "null"])
    assert skipped.exit_code == 0, skipped.output
    assert sorted(row["id"] for row in json.loads(skipped.output)) == [1, 3]
    assert failed() == before + 1
    named = CliRunner().invoke(main, args)
    assert named.exit_code == 1
    assert named.output.startswith("Error: ") and "row 2 of 3" in named.output and "is not valid UTF-8" in named.output


def test_duckdb_progress_bar_stays_out_of_results_written_to_stdout(tmp_path: Path) -> None:
    """DuckDB draws its progress bar on stdout: on in a long query it would land inside the CSV a program reads."""
    query = "SELECT current_setting('enable_progress_bar') AS bar"
    piped = CliRunner().invoke(main, ["query", query, "-f", "csv"])  # CliRunner's stdout is not a terminal
    assert piped.exit_code == 0, piped.output
    assert piped.output.split() == ["bar", "false"]
    to_file = CliRunner().invoke(main, ["query", query, "-f", "csv", "-o", str(tmp_path / "out.csv")])
    assert to_file.exit_code == 0, to_file.output
    assert (tmp_path / "out.csv").read_text().split() == ["bar", "true"]  # stdout is free: the bar may show there
