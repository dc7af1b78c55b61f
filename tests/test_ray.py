"""The Ray Data adapter on a local CPU Ray (one actor): same rows, same order, same values as DuckDB."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'sqlml[ray]'")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    previous = os.umask(0o022)  # the workers Ray starts now keep this umask for the files they write
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    finally:
        os.umask(previous)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def corpus() -> pa.Table:
    return pa.table({"id": list(range(3000)), "body": [None if i % 11 == 0 else f"document {i} about {i % 7}" for i in range(3000)]})


def test_embed_equals_the_duckdb_path_row_for_row(local_ray: None, tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    import sqlml.ray as sr

    table = corpus()
    ds = sr.embed(ray.data.from_arrow(table), "body", model=str(tiny_model_dir), concurrency=1, batch_size=700)
    got = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    tiny_con.register("corpus", table)
    expected = tiny_con.sql("SELECT id, embed(body) AS embedding FROM corpus ORDER BY id").to_arrow_table()
    assert got.column("id").to_pylist() == expected.column("id").to_pylist()
    assert got.column("embedding").to_pylist() == expected.column("embedding").to_pylist()


def test_summarize_equals_the_duckdb_path(local_ray: None, tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    import sqlml.ray as sr

    bodies = [None, "One. Two is here. Three follows. Four ends it. Five more.", "Single sentence only.", ""]
    table = pa.table({"id": list(range(len(bodies))), "body": bodies})
    got = sr.summarize(ray.data.from_arrow(table), "body", n=2, model=str(tiny_model_dir)).take_all()
    tiny_con.register("docs", table)
    expected = tiny_con.sql("SELECT sqlml.summarize(body, n := 2) FROM docs ORDER BY id").fetchall()
    assert [row["summary"] for row in got] == [row[0] for row in expected]


def test_classify_and_relevance_equal_the_duckdb_path(local_ray: None, tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    import sqlml.ray as sr

    table = corpus().slice(0, 500)
    ds = ray.data.from_arrow(table)
    ds = sr.classify(ds, "body", labels=["alpha", "beta", "gamma"], embedding_model=str(tiny_model_dir))
    ds = sr.relevance(ds, "body", "document about 3", model=str(tiny_model_dir))
    got = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    tiny_con.register("corpus", table)
    expected = tiny_con.sql(
        "SELECT classify(body, ['alpha', 'beta', 'gamma']) AS label, relevance(body, 'document about 3') AS relevance FROM corpus ORDER BY id"
    ).to_arrow_table()
    assert got.column("label").to_pylist() == expected.column("label").to_pylist()
    # Floats agree to rounding: rows meet the model in differently composed batches on the two paths.
    assert got.column("relevance").to_pylist() == pytest.approx(expected.column("relevance").to_pylist(), abs=1e-6, nan_ok=True)


def test_missing_column_is_a_clear_error(local_ray: None, tiny_model_dir: Path) -> None:
    import sqlml.ray as sr

    ds = sr.embed(ray.data.from_arrow(corpus()), "text", model=str(tiny_model_dir))
    with pytest.raises(Exception, match=r"column 'text' is not in the dataset; its columns are: id, body"):
        ds.materialize()


def test_cli_engine_ray_writes_a_folder_equal_to_the_local_engine(local_ray: None, tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    source = tmp_path / "in.parquet"
    pq.write_table(corpus(), source)
    common = [str(source), "--column", "body", "--model", str(tiny_model_dir), "--no-progress"]
    local = CliRunner().invoke(main, ["embed", *common, "-o", str(tmp_path / "local.parquet")], catch_exceptions=False)
    distributed = CliRunner().invoke(main, ["embed", *common, "--engine", "ray", "-o", str(tmp_path / "ray_out")], catch_exceptions=False)
    assert local.exit_code == 0 and distributed.exit_code == 0
    from_ray = pq.read_table(tmp_path / "ray_out").sort_by("id")
    assert from_ray.to_pylist() == pq.read_table(tmp_path / "local.parquet").to_pylist()


def test_cli_engine_ray_rerun_replaces_the_output_folder(local_ray: None, tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    source = tmp_path / "in.parquet"
    pq.write_table(corpus().slice(0, 300), source)
    out = tmp_path / "ray_out"
    stale = tmp_path / ".ray_out.k9x2ab_q.partial"  # what kill -9 during a Ray write leaves
    stale.mkdir()
    (stale / "half.parquet").write_bytes(b"PAR1")
    args = ["embed", str(source), "--column", "body", "--model", str(tiny_model_dir), "--no-progress", "--engine", "ray", "-o", str(out)]
    previous = os.umask(0o022)
    try:
        results = [CliRunner().invoke(main, args) for _ in range(2)]
    finally:
        os.umask(previous)
    assert [(r.exit_code, r.output.strip()) for r in results] == [(0, f"wrote 300 rows to {out}")] * 2
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(300))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "ray_out"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}


def test_cli_engine_ray_unites_input_schemas_by_name(local_ray: None, tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": pa.array([0, 1], pa.int32()), "body": ["one", None]}), first)
    pq.write_table(pa.table({"lang": ["de"], "body": ["drei"], "id": pa.array([2], pa.int64())}), second)
    out = tmp_path / "ray_out"
    args = ["embed", str(first), str(second), "--column", "body", "--model", str(tiny_model_dir), "--no-progress", "--engine", "ray", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).sort_by("id")
    assert table.column_names == ["id", "body", "lang", "embedding"] and table.schema.field("id").type == pa.int64()
    assert table.select(["id", "body", "lang"]).to_pylist() == [
        {"id": 0, "body": "one", "lang": None}, {"id": 1, "body": None, "lang": None}, {"id": 2, "body": "drei", "lang": "de"},
    ]


def test_cli_engine_ray_refuses_an_input_without_the_text_column(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [0], "body": ["one"]}), first)
    pq.write_table(pa.table({"id": [1], "text": ["two"]}), second)
    out = tmp_path / "ray_out"
    args = ["embed", str(first), str(second), "--column", "body", "--model", str(tiny_model_dir), "--no-progress", "--engine", "ray", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"Error: column 'body' is not in {str(second)!r} (its columns are: id, text), although other inputs have it" in result.output
    assert not out.exists()


def test_cli_engine_ray_refuses_to_replace_a_folder_of_other_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    source = tmp_path / "in.parquet"
    pq.write_table(corpus().slice(0, 10), source)
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    args = ["embed", str(source), "--column", "body", "--model", str(tiny_model_dir), "--no-progress", "--engine", "ray", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (
        f"Error: output folder {str(out)!r} holds 'notes.txt', which is not a .parquet file this job writes; "
        "choose a new or empty folder"
    ) in result.output
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_cli_engine_ray_refuses_an_output_folder_holding_an_input(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sqlml.cli import main

    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(corpus().slice(0, 10), data / "in.parquet")
    args = ["embed", str(data / "*.parquet"), "--column", "body", "--model", str(tiny_model_dir), "--no-progress", "--engine", "ray", "-o", str(data)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (
        f"Error: output folder {str(data)!r} holds the input {str(data / 'in.parquet')!r}, which replacing the folder would delete; "
        "choose another output folder"
    ) in result.output
    assert [p.name for p in data.iterdir()] == ["in.parquet"]


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlml.ray as sr
    from sqlml.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sqlml\[ray\]'"):
        sr._require_ray()
