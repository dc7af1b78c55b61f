"""Security rules: no pickle, no remote code, confined model paths, quoted identifiers, clean lifecycles."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import pytest

import sqlml
from sqlml.errors import PathNotAllowedError
from sqlml.models import registry
from tests.test_classify import hf_classifier_dir  # noqa: F401 - the session fixture of a tiny sequence classifier

ROOT = Path(__file__).resolve().parents[1]


def test_allow_paths_confines_model_directories(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(PathNotAllowedError, match=r"is outside the folders SQLML_ALLOW_PATHS permits"):
        registry.resolve(str(tiny_model_dir))
    monkeypatch.setenv("SQLML_ALLOW_PATHS", os.pathsep.join([str(tmp_path), str(tiny_model_dir.parent)]))
    assert registry.resolve(str(tiny_model_dir)).kind == "path"


def test_allow_paths_none_still_allows_default_and_registered_names(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", "none")
    assert registry.resolve("default").kind == "default"
    registry.register_alias("approved-tiny", tiny_model_dir)
    assert registry.resolve("approved-tiny").kind == "alias"
    with pytest.raises(PathNotAllowedError, match=r"SQLML_ALLOW_PATHS permits \('none'\)"):
        registry.resolve(str(tiny_model_dir))


def test_symlink_out_of_an_allowed_folder_is_refused(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(tiny_model_dir)
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(PathNotAllowedError, match="outside the folders"):
        registry.resolve(str(link))


def test_sql_cannot_reach_a_forbidden_directory(monkeypatch: pytest.MonkeyPatch, tiny_con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", str(tmp_path))
    with pytest.raises(duckdb.Error, match="outside the folders SQLML_ALLOW_PATHS permits"):
        tiny_con.sql("SELECT embed_list('x', model := '/etc')").fetchall()


def test_no_pickle_or_remote_code_on_any_load_path() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "sqlml").rglob("*.py"))
    assert "import pickle" not in sources and "allow_pickle=True" not in sources and "torch.load(" not in sources
    assert "trust_remote_code=True" not in sources


def test_connect_close_cycles_leak_no_threads_or_files(tiny_model_dir: Path) -> None:
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    def cycle(query: bool) -> None:
        con = sqlml.connect(model=str(tiny_model_dir), device="cpu")
        if query:
            con.sql("SELECT embed('x')").fetchall()
        con.close()

    cycle(query=True)  # the first cycle starts the model's runtime worker, which lives for the process
    threads, files = threading.active_count(), open_files()
    for i in range(1000):
        cycle(query=i % 100 == 0)
    assert threading.active_count() <= threads
    assert open_files() <= files + 2  # slack for the test runner's own log files


# -- one path policy: SQLML_ALLOW_PATHS and DuckDB's sandbox for every path a user names (issue 20) ----


@pytest.fixture(scope="module")
def outside_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A loadable copy of the tiny model in a folder no policy of these tests permits."""
    import shutil

    return Path(shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("outside") / "model"))


def test_allow_paths_none_refuses_a_classifier_folder(
    monkeypatch: pytest.MonkeyPatch, tiny_con: duckdb.DuckDBPyConnection, hf_classifier_dir: Path,  # noqa: F811 - the imported fixture
) -> None:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", "none")
    with pytest.raises(duckdb.Error, match=rf"classifier directory '{hf_classifier_dir}' is outside the folders SQLML_ALLOW_PATHS permits \('none'\)"):
        tiny_con.sql(f"SELECT classify('x', model := '{hf_classifier_dir}')").fetchall()


def test_external_access_off_refuses_named_paths_alike_without_touching_them(
    monkeypatch: pytest.MonkeyPatch, tiny_con: duckdb.DuckDBPyConnection, outside_model_dir: Path
) -> None:
    touched: list[str] = []
    real_stat = os.stat

    def watched_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if "outside" in str(path):
            touched.append(str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    tiny_con.execute("SET enable_external_access = false")
    monkeypatch.setattr(os, "stat", watched_stat)
    messages = []
    for path in (outside_model_dir, outside_model_dir.parent / "missing"):
        with pytest.raises(duckdb.Error, match="enable_external_access is off") as failed:
            tiny_con.sql(f"SELECT embed_list('x', model := '{path}')").fetchall()
        messages.append(str(failed.value).replace(str(path), "<path>"))
    assert messages[0] == messages[1]  # no oracle: the same refusal whether the folder exists or not
    assert touched == []  # refused before any file-system call on the path
    assert len(tiny_con.sql("SELECT embed_list('x')").fetchall()[0][0]) == 32  # the connection's own model still runs


def test_external_access_off_refuses_training_a_head(tiny_con: duckdb.DuckDBPyConnection) -> None:
    from sqlml.models import heads

    def embedded_rows() -> int:
        return sum(s["value"] for s in sqlml.stats() if s["component"] == "runtime" and s["metric"] == "rows")

    tiny_con.execute("SET enable_external_access = false")
    before = embedded_rows()
    with pytest.raises(duckdb.Error, match="classifier store folder .* is not allowed: DuckDB's enable_external_access is off"):
        tiny_con.sql("SELECT sqlml_train('topics', ['a b', 'c d', 'e f', 'g h'], ['x', 'y', 'x', 'y'])").fetchall()
    assert heads.names() == []
    assert embedded_rows() == before  # refused before any text was embedded


def test_external_access_off_honours_allowed_directories(
    tiny_con: duckdb.DuckDBPyConnection, outside_model_dir: Path, tiny_model_dir: Path
) -> None:
    tiny_con.execute("SET allowed_directories = ?", [[str(outside_model_dir.parent)]])
    tiny_con.execute("SET enable_external_access = false")
    assert len(tiny_con.sql(f"SELECT embed_list('x', model := '{outside_model_dir}')").fetchall()[0][0]) == 32
    escape = outside_model_dir.parent / ".." / tiny_model_dir.name
    with pytest.raises(duckdb.Error, match="enable_external_access is off"):
        tiny_con.sql(f"SELECT embed_list('x', model := '{escape}')").fetchall()


def test_a_sandbox_set_at_connect_holds_for_the_private_functions(tiny_model_dir: Path, outside_model_dir: Path) -> None:
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", config={"enable_external_access": False}) as con:
        with pytest.raises(duckdb.Error, match="enable_external_access is off"):
            con.sql(f"SELECT _sqlml_embed_list('x', '{outside_model_dir}', 'raise')").fetchall()


FORGED = "{'external_access': true, 'allowed_directories': []::VARCHAR[], 'allowed_paths': []::VARCHAR[]}"


def test_a_sandbox_switched_on_after_connect_cannot_be_forged_through_the_private_functions(tiny_model_dir: Path, outside_model_dir: Path) -> None:
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False) as con:
        con.execute("SET enable_external_access = false")
        for reading in (FORGED, "NULL"):  # the UDFs read the settings themselves: no argument carries them
            with pytest.raises(duckdb.BinderException, match="No function matches"):
                con.sql(f"SELECT len(_sqlml_embed_list('x', '{outside_model_dir}', 'raise', {reading}))").fetchall()
        with pytest.raises(duckdb.Error, match="enable_external_access is off"):
            con.sql(f"SELECT len(_sqlml_embed_list('x', '{outside_model_dir}', 'raise'))").fetchall()


def test_a_replaced_sqlml_macro_cannot_open_the_sandbox(tiny_model_dir: Path, outside_model_dir: Path) -> None:
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False) as con:
        con.execute(f"CREATE OR REPLACE MACRO sqlml.main._sqlml_sandbox() AS {FORGED}")  # the sqlml catalog is writable by SQL
        con.execute("SET enable_external_access = false")
        with pytest.raises(duckdb.Error, match="enable_external_access is off"):
            con.sql(f"SELECT len(embed_list('x', model := '{outside_model_dir}'))").fetchall()


def test_the_sandbox_holds_for_a_large_query_on_several_threads(tiny_model_dir: Path, outside_model_dir: Path, tiny_model_copy: Path) -> None:
    """Several DuckDB threads in two Python threads read the sandbox at once (every call while access is on):
    every row of a permitted path, the refusal of another, no deadlock."""
    with sqlml.connect(model=str(tiny_model_dir), device="cpu", cache=False) as con:
        con.execute("SET threads = 4")

        def run_both() -> dict[str, object]:
            results: dict[str, object] = {}

            def query(name: str, model: Path) -> None:
                sql = f"SELECT count(e), min(len(e)), max(len(e)) FROM (SELECT embed_list('row ' || i, model := '{model}') AS e FROM range(5000) r(i))"
                try:
                    results[name] = sqlml.cursor(con).sql(sql).fetchall()
                except duckdb.Error as failed:
                    results[name] = str(failed)

            threads = [threading.Thread(target=query, args=(name, model), daemon=True)
                       for name, model in (("allowed", outside_model_dir), ("other", tiny_model_copy))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(thread.is_alive() for thread in threads), "a sandbox reading deadlocked"
            return results

        assert run_both() == {"allowed": [(5000, 32, 32)], "other": [(5000, 32, 32)]}
        con.execute("SET allowed_directories = ?", [[str(outside_model_dir.parent)]])
        con.execute("SET enable_external_access = false")
        results = run_both()
        assert results["allowed"] == [(5000, 32, 32)]
        assert "enable_external_access is off" in str(results["other"])


@pytest.fixture(scope="module")
def tiny_model_copy(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """Another loadable copy of the tiny model, outside the folder :func:`outside_model_dir` lies in."""
    import shutil

    return Path(shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("elsewhere") / "model"))


def test_a_plain_connection_left_alone_refuses_named_paths(tmp_path: Path, tiny_model_dir: Path, outside_model_dir: Path) -> None:
    """With every registered connection closed sqlml cannot read the database's sandbox, so it permits no named path."""
    path = str(tmp_path / "shared.duckdb")
    first = sqlml.connect(path, model=str(tiny_model_dir), device="cpu", cache=False)
    plain = duckdb.connect(path)
    try:
        assert plain.sql(f"SELECT len(sqlml.embed_list('x', model := '{outside_model_dir}'))").fetchall() == [(32,)]
        first.close()
        with pytest.raises(duckdb.Error, match=(
            rf"model directory '{outside_model_dir}' is not allowed: sqlml cannot read DuckDB's sandbox settings "
            r"\(enable_external_access\) of this database, as every connection that sqlml.connect or sqlml.register opened "
            r"on it is closed; query through such a connection"
        )):
            plain.sql(f"SELECT len(sqlml.embed_list('x', model := '{outside_model_dir}'))").fetchall()
        assert plain.sql("SELECT len(sqlml.embed_list('x'))").fetchall() == [(32,)]  # the connection's own model still runs
    finally:
        plain.close()
        first.close()


@pytest.mark.parametrize("name", ["a" * 5000, "/tmp/" + "b" * 300, "c/" * 2500])
def test_a_name_too_long_for_the_file_system_gives_a_clear_error(name: str) -> None:
    from sqlml.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"model directory '[^']{200}…' is too long for a path: \d[\d,]* bytes"):
        registry.resolve(name)


#: Every argument that names a model or classifier path, per public function (the doors are tests/conformance's SURFACE).
PATH_ARGUMENTS: list[tuple[str, str, dict[str, object]]] = [
    *[(f, "model", {}) for f in ("embed", "embed_list", "summarize", "summarize_explain")],
    *[(f, "model", {"query": "rates"}) for f in ("relevance", "top_k_sentences", "sqlml_search")],
    *[(f, "model", {}) for f in ("classify", "classify_scores")],  # a Hugging Face classifier directory
    *[(f, "embedding_model", {"labels": ["sport", "politics"]}) for f in ("classify", "classify_scores")],
    ("sqlml_train", "embedding_model", {"name": "topics", "labels": ["sport", "politics"]}),
]


def _path_cases(doors: tuple[str, ...]) -> list[pytest.ParameterSet]:
    from tests.conformance.doors import SURFACE, NotOffered

    return [
        pytest.param(door, function, argument, extra, id=f"{door}-{function}-{argument}", marks=[pytest.mark.ray] if door == "ray" else [])
        for function, argument, extra in PATH_ARGUMENTS
        for door in doors
        if not isinstance(SURFACE[function][door], NotOffered)
    ]


def _path_call(function: str, argument: str, extra: dict[str, object], path: Path) -> object:
    from tests.conformance.cases import call

    texts = ("A text about sport. Another sentence.", "Politics now.")
    return call(function, texts, fails=True, label=f"policy/{function}/{argument}", **extra, **{argument: str(path)})


def _door(name: str, workdir: Path, home: Path) -> object:
    from tests.conformance import doors

    if name == "ray":
        return doors.RayDoor({}, home)
    return {"sql": lambda: doors.SqlDoor({}), "python": lambda: doors.PythonDoor({}), "cli": lambda: doors.CliDoor({}, workdir)}[name]()


@pytest.fixture(scope="module")
def policy_folders(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, str]:
    """The CLI door's work folder and the SQLML_ALLOW_PATHS value permitting it and the tiny model only."""
    work = tmp_path_factory.mktemp("policy-work")
    return work, os.pathsep.join([str(tiny_model_dir), str(work)])


@pytest.fixture(scope="module")
def policy_ray(policy_folders: tuple[Path, str], tiny_model_dir: Path) -> object:
    """A local Ray whose actors get the policy's settings (the way docs/ray.md passes settings)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'sqlml[ray]'")
    env = {"SQLML_MODEL": str(tiny_model_dir), "SQLML_DEVICE": "cpu", "SQLML_CACHE": "0", "HF_HUB_OFFLINE": "1",
           "SQLML_ALLOW_PATHS": policy_folders[1]}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env={"env_vars": env})
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.mark.parametrize(("door", "function", "argument", "extra"), _path_cases(("sql", "python", "cli", "ray")))
def test_every_door_refuses_a_path_outside_sqlml_allow_paths_alike(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, outside_model_dir: Path,
    policy_folders: tuple[Path, str], tmp_path: Path, door: str, function: str, argument: str, extra: dict[str, object],
) -> None:
    from tests.conformance.compare import assert_same_message

    workdir, allowed = policy_folders
    for name, value in {"SQLML_MODEL": str(tiny_model_dir), "SQLML_DEVICE": "cpu", "SQLML_CACHE": "0", "SQLML_ALLOW_PATHS": allowed}.items():
        monkeypatch.setenv(name, value)
    if door == "ray":
        request.getfixturevalue("policy_ray")
    case = _path_call(function, argument, extra, outside_model_dir)
    purpose = "classifier directory" if function.startswith("classify") and argument == "model" else "model directory"
    reference = _door("sql", workdir, tmp_path)
    expected = reference.error(case)  # type: ignore[attr-defined]
    reference.close()  # type: ignore[attr-defined]
    assert expected.startswith(f"{purpose} '{outside_model_dir}' is outside the folders SQLML_ALLOW_PATHS permits ({allowed!r}); ")
    tested = _door(door, workdir, tmp_path)
    try:
        assert_same_message(door, function, tested.error(case), expected)  # type: ignore[attr-defined]
    finally:
        getattr(tested, "close", lambda: None)()


@pytest.mark.parametrize(("door", "function", "argument", "extra"), _path_cases(("sql", "python")))
def test_sql_and_python_refuse_every_path_under_sqlml_allow_paths_none(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, outside_model_dir: Path, tmp_path: Path,
    door: str, function: str, argument: str, extra: dict[str, object],
) -> None:
    registry.register_alias("tiny", tiny_model_dir)  # with no folder permitted, the deployment names its model
    for name, value in {"SQLML_MODEL": "tiny", "SQLML_DEVICE": "cpu", "SQLML_CACHE": "0", "SQLML_ALLOW_PATHS": "none"}.items():
        monkeypatch.setenv(name, value)
    tested = _door(door, tmp_path, tmp_path)
    try:
        message = tested.error(_path_call(function, argument, extra, outside_model_dir))  # type: ignore[attr-defined]
    finally:
        getattr(tested, "close", lambda: None)()
    purpose = "classifier directory" if function.startswith("classify") and argument == "model" else "model directory"
    assert message.startswith(f"{purpose} '{outside_model_dir}' is outside the folders SQLML_ALLOW_PATHS permits ('none'); ")


@pytest.mark.parametrize(("door", "function", "argument", "extra"), _path_cases(("sql",)))
def test_sql_refuses_every_path_when_duckdb_external_access_is_off(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, outside_model_dir: Path, door: str, function: str, argument: str,
    extra: dict[str, object],
) -> None:
    from tests.conformance.doors import SqlDoor

    monkeypatch.setenv("SQLML_MODEL", str(tiny_model_dir))
    sql = SqlDoor({})
    sql.con.execute("SET enable_external_access = false")
    try:
        message = sql.error(_path_call(function, argument, extra, outside_model_dir))
    finally:
        sql.close()
    purpose = "classifier directory" if function.startswith("classify") and argument == "model" else "model directory"
    assert message.startswith(f"{purpose} '{outside_model_dir}' is not allowed: DuckDB's enable_external_access is off")


def _refused_output(monkeypatch: pytest.MonkeyPatch, target: Path) -> str:
    monkeypatch.setenv("SQLML_ALLOW_PATHS", "none")
    return f"output {{}} '{target}' is outside the folders SQLML_ALLOW_PATHS permits ('none')"


@pytest.mark.parametrize("command", [
    ["embed", "-c", "x"], ["summarize", "-c", "x"], ["classify", "-c", "x", "--labels", "a,b"], ["embed", "-c", "x", "--engine", "ray"],
    ["search", "rates", "-c", "x", "-f", "csv"], ["query", "SELECT 1 AS one", "-f", "csv"],
], ids=["embed", "summarize", "classify", "embed-ray", "search", "query"])
def test_every_cli_output_is_refused_under_sqlml_allow_paths_none(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from sqlml.cli import main

    registry.register_alias("tiny", tiny_model_dir)
    monkeypatch.setenv("SQLML_MODEL", "tiny")
    source, target = tmp_path / "in.parquet", tmp_path / ("out" if "ray" in command else "out.parquet")
    pq.write_table(pa.table({"x": ["one text", "two texts"]}), source)
    expected = _refused_output(monkeypatch, target).format("folder" if "ray" in command else "file")
    arguments = command[:1] + ([] if command[0] == "query" else [str(source)]) + command[1:] + ["-o", str(target), "--no-progress"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"Error: {expected}" in result.output, result.output
    assert not target.exists()


@pytest.mark.parametrize("function", ["embed_parquet", "summarize_parquet", "run_parquet_job"])
def test_every_python_output_is_refused_under_sqlml_allow_paths_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, function: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, target = tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(pa.table({"x": ["one text"]}), source)
    expected = _refused_output(monkeypatch, target).format("folder" if function == "run_parquet_job" else "file")
    if function == "run_parquet_job":
        from sqlml.ray import run_parquet_job

        action = lambda: run_parquet_job(source, target, "embed", "x", "embedding")  # noqa: E731
    else:
        action = lambda: getattr(sqlml, function)(source, target, "x")  # noqa: E731
    with pytest.raises(PathNotAllowedError) as refused:
        action()
    assert str(refused.value).startswith(expected)
    assert not target.exists()
