"""Fixtures of the conformance suite: the doors, the default and poisoned models, and one local Ray.

Every door runs on its default model, set the way users set it: ``SQLML_MODEL`` (the tiny random model
of ``tests/conftest.py``), ``SQLML_DEVICE=cpu``. The embedding cache is off (``SQLML_CACHE=0``) so that
each door computes its own vectors instead of reading the ones the reference door just stored.

The poisoned model is the tiny architecture with a vocabulary cut at id 30000: any text holding
``cases.POISON`` ('a～' tokenizes to id 30521) makes its forward pass fail with an IndexError, in every
process (Ray actors included), while every other text embeds normally.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cases import HEAD, POISONED, TRAIN_LABELS, TRAIN_TEXTS, Call
from .doors import ROW_FUNCTIONS, CliDoor, PythonDoor, RayDoor, SqlDoor

HERE = Path(__file__).parent


def calls_in(value: Any) -> list[Call]:
    """The calls among a test's parameters (a Call, or tuples holding them)."""
    if isinstance(value, Call):
        return [value]
    if isinstance(value, (tuple, list)):
        return [c for v in value for c in calls_in(v)]
    return []


def selected_ray_calls(session: pytest.Session) -> list[Call]:
    """The calls of the selected Ray tests of this suite, in test order."""
    items = [item for item in session.items if HERE in item.path.parents and item.get_closest_marker("ray")]
    return [c for item in items if hasattr(item, "callspec") for c in calls_in(list(item.callspec.params.values()))]


#: Ray Data 2.60 leaks the log file of a dataset that ran beside another one (unregister_dataset_logger
#: re-registers the next dataset with a new handler, dropping the old one unclosed). The Ray door runs two
#: jobs at once, so the leak surfaces, when collected, in whichever test is running: not sqlml's to fix.
RAY_DATA_LOG_LEAK = [  # (a filter's message cannot hold ':', so "in." stands for "in:")
    pytest.mark.filterwarnings(r"ignore:unclosed file <_io\.TextIOWrapper name='[^']*ray-data-dataset_:ResourceWarning"),
    pytest.mark.filterwarnings(r"ignore:Exception ignored in. <_io\.FileIO name='[^']*ray-data-dataset_:pytest.PytestUnraisableExceptionWarning"),
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run this suite's Ray tests after its other tests: Ray's jobs start with the suite and work meanwhile."""
    mine = [i for i, item in enumerate(items) if HERE in item.path.parents]
    ordered = sorted((items[i] for i in mine), key=lambda item: item.get_closest_marker("ray") is not None)
    for i, item in zip(mine, ordered, strict=True):
        items[i] = item
        for mark in RAY_DATA_LOG_LEAK:
            item.add_marker(mark)


@pytest.fixture(scope="session")
def poisoned_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.random_model import build_random_model

    return build_random_model(
        tmp_path_factory.mktemp("poisoned-model"),
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=30000,
    )


@pytest.fixture(scope="session")
def paths(poisoned_model_dir: Path) -> dict[str, str]:
    """Placeholders in the cases' arguments -> their values on this machine."""
    return {POISONED: str(poisoned_model_dir)}


def suite_settings(tiny_model_dir: Path) -> dict[str, str]:
    return {"SQLML_MODEL": str(tiny_model_dir), "SQLML_DEVICE": "cpu", "SQLML_CACHE": "0", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _suite_settings(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    for name, value in suite_settings(tiny_model_dir).items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="package")
def ray_door(request: pytest.FixtureRequest, tiny_model_dir: Path, paths: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayDoor]:
    """One local Ray for the whole suite, the selected Ray tests' calls started at once (see :class:`doors.RayDoor`).

    Its actors' SQLML_HOME holds the head ``topics`` (trained here, before any job, so every Ray job
    sees the same heads); Ray tests point the driver's SQLML_HOME there too.
    """
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'sqlml[ray]'")
    import sqlml

    home = tmp_path_factory.mktemp("ray-home")
    env = {**suite_settings(tiny_model_dir), "SQLML_HOME": str(home)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        sqlml.train_classifier(HEAD, list(TRAIN_TEXTS), list(TRAIN_LABELS))
        # Logical CPUs to spare: a job must never wait on Ray resources (settings reach actors through runtime_env, as docs/ray.md says).
        ray.init(num_cpus=4 * RayDoor.JOBS, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": env})
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    door = RayDoor(paths, home)
    door.prefetch(selected_ray_calls(request.session))
    yield door
    door.close()
    ray.shutdown()


@pytest.fixture(scope="package", autouse=True)
def _start_ray_early(request: pytest.FixtureRequest) -> None:
    """Start Ray and its jobs with the first test of the suite when any Ray test is selected (and Ray is
    installed: without it only the Ray tests skip, in ``ray_door``)."""
    selected = any(HERE in item.path.parents and item.get_closest_marker("ray") for item in request.session.items)
    if selected and importlib.util.find_spec("ray") is not None:
        request.getfixturevalue("ray_door")


@pytest.fixture
def door(request: pytest.FixtureRequest, paths: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The door named by the test's parameter."""
    name = request.param
    if name == "ray":
        ray_door: RayDoor = request.getfixturevalue("ray_door")
        monkeypatch.setenv("SQLML_HOME", str(ray_door.home))
        yield ray_door
    elif name == "sql":
        sql = SqlDoor(paths)
        yield sql
        sql.close()
    elif name == "python":
        yield PythonDoor(paths)
    else:
        yield CliDoor(paths, tmp_path)


class Reference(SqlDoor):
    """The SQL door as the reference: results of plain row-function calls are kept for the session (they
    depend on nothing but the call: the cache is off); anything reading SQLML_HOME (heads, training,
    messages naming paths) runs again."""

    memo: dict[Call, Any] = {}

    def run(self, call: Call) -> Any:
        pure = call.function in ROW_FUNCTIONS and not (call.function.startswith("classify") and "model" in call.kwargs)
        if not pure:
            return super().run(call)
        if call not in self.memo:
            self.memo[call] = super().run(call)
        return self.memo[call]


@pytest.fixture
def reference(door: object, paths: dict[str, str]) -> Iterator[SqlDoor]:
    """The SQL door, the reference every other door is compared with (made after ``door``: same SQLML_HOME)."""
    sql = Reference(paths)
    yield sql
    sql.close()
