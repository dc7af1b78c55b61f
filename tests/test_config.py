from __future__ import annotations

import pytest

from sqlml import config
from sqlml.errors import ConfigError, SqlmlError


def test_explicit_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_BATCH_SIZE", "7")
    assert config.resolve("batch_size", 3, 256, config.parse_positive_int) == 3


def test_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_BATCH_SIZE", "7")
    assert config.resolve("batch_size", None, 256, config.parse_positive_int) == 7


def test_default_when_unset() -> None:
    assert config.resolve("batch_size", None, 256, config.parse_positive_int) == 256


def test_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLML_BATCH_SIZE", "zero")
    with pytest.raises(ConfigError, match=r"SQLML_BATCH_SIZE='zero' is not valid: .*; unset it or fix the value"):
        config.resolve("batch_size", None, 256, config.parse_positive_int)


def test_config_error_is_a_value_error_and_an_sqlml_error() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, SqlmlError)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("On", True), ("no", False), ("FALSE", False)])
def test_parse_bool(raw: str, expected: bool) -> None:
    assert config.parse_bool(raw) is expected


def test_home_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SQLML_HOME", str(tmp_path / "h"))
    assert config.home_dir() == tmp_path / "h"


def test_the_configuration_docs_show_the_settings_table_of_the_code() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert config.settings_table() in docs, "docs/configuration.md is stale: paste config.settings_table() into it"


def test_every_setting_the_code_reads_is_in_the_table() -> None:
    import re
    from pathlib import Path

    package = Path(config.__file__).resolve().parent
    read = set()
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"""resolve\(\s*["'](\w+)["']""", text))
        read |= {name.lower() for name in re.findall(r"""["']SQLML_(\w+)["']""", text)}
    assert read <= {s.name for s in config.SETTINGS}, read - {s.name for s in config.SETTINGS}


def test_settings_carry_explicit_arguments_and_resolve_the_model(monkeypatch) -> None:
    monkeypatch.setenv("SQLML_MODEL", "/models/e5")
    monkeypatch.setenv("SQLML_CACHE", "maybe")  # read only where the cache is used: it must not fail a Settings
    settings = config.Settings.resolve(device="cuda", batch_size=None)
    assert (settings.model, settings.device, settings.batch_size, settings.cache) == ("/models/e5", "cuda", None, None)
    assert config.Settings.resolve(model="default").model == "default"
