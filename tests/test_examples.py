"""Every example in examples/ runs: news triage over Parquet, the text-file index, the CLI pipeline."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ARTICLES = EXAMPLES / "data" / "articles.parquet"
DESKS = {"business", "sport", "politics", "tech", "entertainment", "science"}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_news_triage_writes_one_row_per_article(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "triage.parquet"
    load("news_triage").main([str(ARTICLES), str(output), "--model", str(tiny_model_dir), "--device", "cpu"])
    table = pq.read_table(output)
    assert table.column_names == ["id", "title", "desk", "desk_margin", "needs_review", "urgency", "brief"]
    assert sorted(table.column("id").to_pylist()) == list(range(1, 37))
    assert set(table.column("desk").to_pylist()) <= DESKS
    assert table.column("brief").null_count == 0
    urgency = table.column("urgency").to_pylist()
    assert urgency == sorted(urgency, reverse=True)
    assert "wrote 36 rows to" in capsys.readouterr().out


def test_news_triage_reads_another_text_column(tiny_model_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    source = tmp_path / "inbox.parquet"
    pq.write_table(pa.table({"id": [1, 2], "title": ["a", "b"], "content": ["The match ended 2-1. Fans cheered.", None]}), source)
    rows = load("news_triage").triage(str(source), str(tmp_path / "out.parquet"), "content", str(tiny_model_dir), "cpu")
    out = pq.read_table(tmp_path / "out.parquet").sort_by("id")
    assert rows == 2
    assert out.column("brief").to_pylist()[1] is None  # NULL text -> NULL brief, row kept


def test_text_index_finds_the_matching_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "cats.txt").write_text("The cat slept on the warm windowsill all afternoon. It purred.")
    (folder / "sub" / "markets.md").write_text("Shares fell sharply as investors sold stocks. The index lost 3%.")
    (folder / "football.txt").write_text("The striker scored twice in the football final. Fans cheered.")
    (folder / "data.csv").write_text("not,indexed")
    index = load("text_index")
    database = tmp_path / "notes.duckdb"
    assert index.build(folder, database, device="cpu") == 3
    hits = index.search(database, "who won the match", k=2, device="cpu")
    assert [Path(path).name for path, _, _ in hits] == ["football.txt", "markets.md"]
    assert hits[0][2] == "The striker scored twice in the football final."
    assert hits[0][1] > hits[1][1]


def test_text_index_of_an_empty_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    index = load("text_index")
    database = tmp_path / "empty.duckdb"
    assert index.build(tmp_path / "empty", database, model=str(tiny_model_dir), device="cpu") == 0
    assert index.search(database, "anything", model=str(tiny_model_dir), device="cpu") == []


@pytest.mark.slow
def test_cli_pipeline_chains_classify_summarize_and_query(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SQLML": f"{sys.executable} -m sqlml.cli",
        "SQLML_MODEL": str(tiny_model_dir),
        "SQLML_DEVICE": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "cli_pipeline.sh"), str(ARTICLES), str(out)], env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    briefs = pq.read_table(out / "briefs.parquet")
    assert briefs.column_names == ["id", "title", "body", "category", "label", "summary"]
    assert briefs.num_rows == 36
    lines = (out / "digest.csv").read_text().splitlines()
    assert lines[0] == "label,articles,first_brief"
    assert result.stdout.startswith("label,articles,first_brief")
