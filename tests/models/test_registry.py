from __future__ import annotations

from pathlib import Path

import pytest

from sqlml.errors import ConfigError, ModelLoadError, ModelNotFoundError
from sqlml.models import registry
from sqlml.models.catalog import list_models
from sqlml.models.device import resolve_device, resolve_dtype
from sqlml.models.dimension import read_dimension


def test_default_resolves_to_the_embedded_model() -> None:
    ref = registry.resolve("default")
    assert ref.kind == "default"
    assert (Path(ref.location) / "model.safetensors").is_file()
    assert ref.display_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_none_resolves_to_sqlml_model_setting(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    monkeypatch.setenv("SQLML_MODEL", str(tiny_model_dir))
    assert registry.resolve(None).location == str(tiny_model_dir.resolve())


def test_local_directory_resolves(tiny_model_dir: Path) -> None:
    ref = registry.resolve(str(tiny_model_dir))
    assert (ref.kind, ref.location) == ("path", str(tiny_model_dir.resolve()))


def test_missing_directory_error_names_the_fix(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match=rf"model directory '{missing}' does not exist; check the path, or use 'default'"):
        registry.resolve(missing)


def test_unknown_bare_name_lists_known_models() -> None:
    with pytest.raises(ModelNotFoundError, match=r"model 'no-such-model' not found; known models: 'default'\. Pass a local model directory"):
        registry.resolve("no-such-model")


def test_uncached_hub_id_offline_names_the_fix() -> None:
    with pytest.raises(ModelNotFoundError, match=r"model 'acme/never-cached' is not available: it is not in the local Hugging Face cache .* `hf download acme/never-cached`"):
        registry.resolve("acme/never-cached")


def test_alias_registration(tiny_model_dir: Path) -> None:
    registry.register_alias("tiny-test", tiny_model_dir)
    assert registry.resolve("tiny-test").kind == "alias"
    assert "tiny-test" in [m.name for m in list_models()]


def test_corrupt_model_directory_gives_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"could not load model .* The folder must be a sentence-transformers or Hugging Face model"):
        registry.load_encoder(str(tmp_path), device="cpu")


def test_models_load_once_per_process(tiny_model_dir: Path) -> None:
    first = registry.load_encoder(str(tiny_model_dir), device="cpu")
    assert registry.load_encoder(str(tiny_model_dir), device="cpu") is first
    assert first.dimension == 32


def test_dimension_is_read_from_files(tiny_model_dir: Path) -> None:
    assert read_dimension(registry.default_model_dir()) == 384
    assert read_dimension(tiny_model_dir) == 32


def test_device_and_dtype_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("SQLML_DEVICE", "cpu")
    assert resolve_device(None) == "cpu"
    assert resolve_dtype(None, "cpu") == "float32"
    assert resolve_dtype(None, "cuda") == "float16"
    assert resolve_dtype("bf16", "cpu") == "bfloat16"


def test_device_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"unknown device 'tpu'; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match=r"float16 is not supported on the CPU; use dtype='float32'"):
        resolve_dtype("float16", "cpu")
