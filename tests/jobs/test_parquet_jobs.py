"""Parquet column jobs through the CLI: inputs with different schemas, stale partial files, file modes."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from sqlml.cli import main


def embed(tiny_model_dir: Path, out: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> Result:
    args = ["embed", *map(str, inputs), "--column", "body", "-o", str(out), "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress", *extra]
    return CliRunner().invoke(main, args)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_inputs_with_different_columns_are_unified_by_name(tmp_path: Path, tiny_model_dir: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "body": ["one", None]}), first)
    pq.write_table(pa.table({"lang": ["en", "de", "fr"], "body": ["drei", "vier", "fünf"], "id": pa.array([3, 4, 5], pa.int64())}), second)
    out = tmp_path / "out.parquet"
    result = embed(tiny_model_dir, out, first, second)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == ["id", "body", "lang", "embedding"]
    assert table.schema.field("id").type == pa.int64()
    assert table.select(["id", "body", "lang"]).to_pylist() == [
        {"id": 1, "body": "one", "lang": None},
        {"id": 2, "body": None, "lang": None},
        {"id": 3, "body": "drei", "lang": "en"},
        {"id": 4, "body": "vier", "lang": "de"},
        {"id": 5, "body": "fünf", "lang": "fr"},
    ]
    assert table.column("embedding").null_count == 1


def test_an_input_file_without_the_text_column_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1], "body": ["one"]}), first)
    pq.write_table(pa.table({"id": [2], "text": ["two"]}), second)
    out = tmp_path / "out.parquet"
    result = embed(tiny_model_dir, out, first, second)
    assert result.exit_code == 1
    assert (
        f"Error: column 'body' is not in {str(second)!r} (its columns are: id, text), although other inputs have it; "
        "every input file needs the text column: add it to that file or leave the file out"
    ) in result.output
    assert not out.exists()


def test_conflicting_column_types_name_both_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1], "body": ["one"]}), first)
    pq.write_table(pa.table({"id": ["x2"], "body": ["two"]}), second)
    out = tmp_path / "out.parquet"
    result = embed(tiny_model_dir, out, first, second)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        f"Error: column 'id' has type int64 in {str(first)!r} but string in {str(second)!r}, and the two cannot be combined; "
        "cast the column to one type in the files, or process them separately"
    ) in result.output
    assert not out.exists()


@pytest.mark.parametrize("resume", [False, True], ids=["run", "resume"])
def test_a_stale_partial_file_of_a_killed_run_is_removed(tmp_path: Path, tiny_model_dir: Path, resume: bool) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "body": ["one", None, "three"]}), source)
    out = tmp_path / "out.parquet"
    stale = tmp_path / ".out.parquet.k9x2ab_q.partial"  # what kill -9 during the final concatenation leaves
    stale.write_bytes(b"PAR1 half written")
    result = embed(tiny_model_dir, out, source, extra=("--resume",) if resume else ())
    assert result.exit_code == 0, result.output
    assert hidden(tmp_path) == []
    assert pq.read_table(out).column("id").to_pylist() == [1, 2, 3]


def test_the_partial_file_of_a_live_run_is_kept(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["one"]}), source)
    live = tmp_path / ".out.parquet.live0001.partial"
    with open(live, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as the writer of a run still going holds it
        result = embed(tiny_model_dir, tmp_path / "out.parquet", source)
        assert result.exit_code == 0, result.output
        assert live.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_the_output_file_mode_follows_the_umask(tmp_path: Path, tiny_model_dir: Path, umask: int, mode: int) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["one", "two"]}), source)
    out = tmp_path / "out.parquet"
    previous = os.umask(umask)
    try:
        result = embed(tiny_model_dir, out, source)
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == mode


# -- inputs that are not regular files, a corrupt checkpoint, an output that names an input ---------------
@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe with no writer: a reader that opens it waits for one."""
    path = tmp_path / "pipe.parquet"
    os.mkfifo(path)
    done = threading.Event()

    def writer_now_and_then() -> None:  # a reader that opened the pipe gets end-of-file, so a failing test ends
        while not done.wait(0.5):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                continue  # no reader yet

    thread = threading.Thread(target=writer_now_and_then, daemon=True)
    thread.start()
    yield path
    done.set()
    thread.join()


@pytest.mark.parametrize("command", ["embed", "classify", "search", "train"])
def test_an_input_that_is_not_a_regular_file_is_refused_before_it_is_opened(command: str, fifo: Path, tiny_model_dir: Path,
                                                                             tmp_path: Path) -> None:
    model = ["--embedding-model" if command in ("classify", "train") else "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    args = {
        "embed": ["embed", str(fifo), "-c", "body", "-o", str(tmp_path / "out.parquet")],
        "classify": ["classify", str(fifo), "-c", "body", "--labels", "a,b", "-o", str(tmp_path / "out.parquet")],
        "search": ["search", str(fifo), "-c", "body", "query"],
        "train": ["train", "topics", str(fifo), "--text", "body", "--label", "category"],
    }[command]
    result = CliRunner().invoke(main, [*args, *model])
    assert result.exit_code == 1, result.output
    assert result.output == (f"Error: input {str(fifo)!r} is not a regular file (a pipe, socket or device); sqlml reads Parquet "
                             "files only: save the data to a file and name that\n")


def test_a_folder_input_says_how_to_name_its_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    result = embed(tiny_model_dir, tmp_path / "out.parquet", folder)
    assert result.exit_code == 1
    assert result.output == (f"Error: input {str(folder)!r} is a folder, not a Parquet file; name its files instead, "
                             f"e.g. {str(folder / '*.parquet')!r}\n")


@pytest.mark.parametrize("manifest", ["{bad", "[1, 2]", "\"text\"", "\xff"], ids=["broken", "list", "string", "not-utf8"])
def test_resume_over_an_unreadable_manifest_says_to_start_over(manifest: str, tmp_path: Path, tiny_model_dir: Path) -> None:
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"body": ["one", "two"]}), source)
    parts = tmp_path / ".out.parquet.parts"
    parts.mkdir()
    (parts / "manifest.json").write_bytes(manifest.encode("latin-1"))
    result = embed(tiny_model_dir, out, source, extra=("--resume",))
    assert result.exit_code == 1
    assert result.output == (f"Error: cannot resume: the checkpoint manifest {str(parts / 'manifest.json')!r} is unreadable or not "
                             "sqlml's; run without --resume to start over\n")
    assert not out.exists()
    assert embed(tiny_model_dir, out, source).exit_code == 0
    assert pq.read_table(out).num_rows == 2


@pytest.mark.parametrize("resume", [False, True], ids=["run", "resume"])
def test_an_output_that_names_an_input_is_refused(resume: bool, tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["one", "two"]}), source)
    before = source.read_bytes()
    os.symlink(source, tmp_path / "link.parquet")
    for output in (source, tmp_path / "link.parquet"):
        result = embed(tiny_model_dir, output, source, extra=("--resume",) if resume else ())
        assert result.exit_code == 1
        assert result.output == (f"Error: output {str(output)!r} is the input {str(source)!r}, which writing the output would "
                                 "replace; choose another output file\n")
    assert source.read_bytes() == before and hidden(tmp_path) == []
