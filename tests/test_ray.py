"""The Ray Data adapter on a local CPU Ray (one actor): same rows, same order, same values as DuckDB."""

from __future__ import annotations

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
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
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


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlml.ray as sr
    from sqlml.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sqlml\[ray\]'"):
        sr._require_ray()
