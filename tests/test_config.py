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
