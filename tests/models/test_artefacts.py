"""Every loaded artefact is validated: model weights are safetensors only (never a pickle), trained heads
are finite and consistent with their metadata, and names are checked as whole strings."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import sqlml
from sqlml.errors import InvalidArgumentError, ModelLoadError, ModelNotFoundError
from sqlml.models import heads, registry
from sqlml.models.hf_classifier import load_classifier
from sqlml.models.registry import default_model_dir, load_encoder


def _pickle_message(what: str, file: Path) -> str:
    return (
        f"{what} stores weights as a pickle ({str(file)!r}), which sqlml does not load because unpickling can run code. "
        "Convert them to safetensors where you trust the file: load the model and save it again with "
        "model.save_pretrained(folder) or, for a sentence-transformers model, model.save(folder) (both write "
        "safetensors), or write its tensors with safetensors.torch.save_file(state_dict, 'model.safetensors'); "
        f"then delete {file.name!r}"
    )


def _as_pickle(folder: Path) -> Path:
    """Replace ``folder/model.safetensors`` by the same tensors saved as a torch pickle (transformers now saves
    safetensors only, so this is what ``save_pretrained(..., safe_serialization=False)`` used to write)."""
    import torch
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    return folder / "pytorch_model.bin"


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _with_dense(folder: Path, safe: bool) -> Path:
    """Add a 32 → 16 Dense module before Normalize, its weights saved as safetensors or as a pickle."""
    from sentence_transformers.sentence_transformer.modules import Dense

    (folder / "2_Dense").mkdir()
    Dense(32, 16).save(str(folder / "2_Dense"), safe_serialization=safe)
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    normalize = {**modules[-1], "idx": 3, "name": "3"}
    (folder / "modules.json").write_text(json.dumps([*modules[:-1], dense, normalize]))
    return folder


def _hf_classifier(folder: Path) -> Path:
    """A tiny random BertForSequenceClassification (2 labels) with the default model's tokenizer, as safetensors."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, folder / name)
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=2)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------------------------- weights


def test_embedding_model_with_pickle_weights_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "pickled")
    pickle = _as_pickle(folder)
    with pytest.raises(ModelLoadError, match=re.escape(_pickle_message(f"model {str(folder)!r}", pickle))):
        load_encoder(str(folder), device="cpu")


def test_dense_module_with_pickle_weights_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _with_dense(_copy(tiny_model_dir, tmp_path / "dense-pickled"), safe=False)
    pickle = folder / "2_Dense" / "pytorch_model.bin"
    with pytest.raises(ModelLoadError, match=re.escape(_pickle_message(f"model {str(folder)!r}", pickle))):
        load_encoder(str(folder), device="cpu")


def test_safetensors_models_still_load(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert load_encoder(str(tiny_model_dir), device="cpu").dimension == 32
    dense = _with_dense(_copy(tiny_model_dir, tmp_path / "dense-safe"), safe=True)
    assert load_encoder(str(dense), device="cpu").dimension == 16


def test_a_pickle_beside_safetensors_is_never_read(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "both")
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle: reading this file would fail")
    assert load_encoder(str(folder), device="cpu").dimension == 32


def test_sequence_classifier_with_pickle_weights_is_refused(tmp_path: Path) -> None:
    folder = _hf_classifier(tmp_path / "hf-pickled")
    pickle = _as_pickle(folder)
    with pytest.raises(ModelLoadError, match=re.escape(_pickle_message(f"sequence classifier {str(folder)!r}", pickle))):
        load_classifier(str(folder), device="cpu")


def test_safetensors_sequence_classifier_still_loads(tmp_path: Path) -> None:
    folder = _hf_classifier(tmp_path / "hf-safe")
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle: reading this file would fail")
    assert load_classifier(str(folder), device="cpu").labels == ("LABEL_0", "LABEL_1")


# ---------------------------------------------------------------------------------------------- heads


DIM = 4
FIX = "re-train it (sqlml_train in SQL, `sqlml train` or sqlml.train_classifier), or delete the folder to drop this version"


def _head() -> Path:
    """A stored head ``topics@1`` (labels money, sport) on a 4-d embedding model, without training one."""
    heads.save("topics", ["money", "sport"], np.ones((2, DIM)), np.zeros(2), {"embedding_model": {"dimension": DIM}})
    return heads.heads_dir() / "topics" / "v1"


def _weights(coef: np.ndarray | None = None, intercept: np.ndarray | None = None) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        from safetensors.numpy import save_file

        tensors = {"coef": np.ones((2, DIM), np.float32) if coef is None else coef,
                   "intercept": np.zeros(2, np.float32) if intercept is None else intercept}
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, folder / heads.WEIGHTS)
    return damage


def _meta(**changes: object) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        meta = json.loads((folder / heads.META).read_text())
        (folder / heads.META).write_text(json.dumps({**meta, **changes}))
    return damage


NAN_COEF = np.ones((2, DIM), np.float32)
NAN_COEF[1, 2] = np.nan
INCONSISTENT = r"has inconsistent files \(labels, weight shapes and meta\.json disagree\)"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_weights(coef=NAN_COEF), r"has non-finite weights \(NaN or infinity in coef or intercept\)"),
        (_weights(intercept=np.array([0, np.inf], np.float32)), r"has non-finite weights \(NaN or infinity in coef or intercept\)"),
        (_meta(labels=["money", "money"]), r"has duplicate labels \['money'\]"),
        (_meta(labels=["", "sport"]), r"has an empty label \(labels \['', 'sport'\]\)"),
        (_meta(labels=["money", 7]), r"has no valid labels \(\['money', 7\]; expected a non-empty list of strings\)"),
        (_meta(labels="money"), r"has no valid labels \('money'; expected a non-empty list of strings\)"),
        (_meta(embedding_model={"dimension": True}), r"has no valid embedding dimension \(embedding_model\.dimension: True\)"),
        (_meta(embedding_model={}), r"has no valid embedding dimension \(embedding_model\.dimension: None\)"),
        (_meta(embedding_model="x"), r"has no valid embedding dimension \(embedding_model\.dimension: None\)"),
        (lambda f: (f / heads.META).write_text("[1]"), r"has an unreadable meta\.json \(not a JSON object\)"),
        (_meta(embedding_model={"dimension": 5}), INCONSISTENT + r": coef \(2, 4\) and intercept \(2,\), expected \(2, 5\) and \(2,\)"),
        (_meta(labels=["a", "b", "c"]), INCONSISTENT + r": coef \(2, 4\) and intercept \(2,\), expected \(3, 4\) and \(3,\)"),
        (_weights(intercept=np.zeros((2, 1), np.float32)), INCONSISTENT + r": coef \(2, 4\) and intercept \(2, 1\), expected"),
        (_weights(coef=np.ones(8, np.float32)), INCONSISTENT + r": coef \(8,\) and intercept \(2,\), expected \(2, 4\)"),
        (_weights(coef=np.full((2, DIM), 1e300)), r"has non-finite weights \(NaN or infinity in coef or intercept\)"),
        (_weights(intercept=np.array([0.0, -1e300])), r"has non-finite weights \(NaN or infinity in coef or intercept\)"),
        (_weights(coef=np.ones((2, DIM), np.int32)), r"has coef of dtype int32 \(expected floating-point weights\)"),
        (_weights(intercept=np.zeros(2, np.bool_)), r"has intercept of dtype bool \(expected floating-point weights\)"),
    ],
)
def test_tampered_heads_are_refused_on_load(damage: Callable[[Path], None], message: str) -> None:
    folder = _head()
    damage(folder)
    with pytest.raises(ModelLoadError, match=rf"^classifier topics@1 \({re.escape(repr(str(folder)))}\) {message}.*; {re.escape(FIX)}$"):
        heads.load("topics")


def test_float64_weights_within_float32_range_load_as_float32() -> None:
    _weights(coef=np.full((2, DIM), 0.5), intercept=np.array([1e30, -1e30]))(_head())
    head = heads.load("topics")
    assert head.coef.dtype == head.intercept.dtype == np.float32
    assert head.coef.tolist() == [[0.5] * DIM] * 2 and np.isfinite(head.intercept).all()


def test_a_head_without_a_coef_tensor_is_refused() -> None:
    from safetensors.numpy import save_file

    folder = _head()
    save_file({"intercept": np.zeros(2, np.float32)}, folder / heads.WEIGHTS)
    with pytest.raises(ModelLoadError, match=INCONSISTENT + r": coef missing and intercept \(2,\), expected \(2, 4\) and \(2,\)"):
        heads.load("topics")


NAN_COEF_32 = np.ones((2, 32), np.float32)
NAN_COEF_32[0, 5] = np.nan


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_weights(coef=NAN_COEF_32), "has non-finite weights"), (_weights(coef=np.full((2, 32), 1e300)), "has non-finite weights"),
     (_meta(labels=["sport", "sport"]), "has duplicate labels")],
)
def test_tampered_trained_head_fails_classify_scores(tiny_model_dir: Path, damage: Callable[[Path], None], message: str) -> None:
    from tests.test_classify import training_rows

    texts, labels = training_rows()
    result = sqlml.train_classifier("topics", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", features="embedding")
    damage(Path(result.path))
    with pytest.raises(ModelLoadError, match=f"classifier topics@1 .* {message}"):
        sqlml.classify_scores(["the goal"], model="topics", embedding_model=str(tiny_model_dir), device="cpu")


def test_save_refuses_a_head_it_could_not_load() -> None:
    with pytest.raises(InvalidArgumentError, match=r"cannot save classifier 'topics': it has non-finite weights \(NaN or infinity in coef or intercept\)"):
        heads.save("topics", ["a", "b"], NAN_COEF, np.zeros(2), {"embedding_model": {"dimension": DIM}})
    with pytest.raises(InvalidArgumentError, match=r"cannot save classifier 'topics': it has duplicate labels \['a'\]"):
        heads.save("topics", ["a", "a"], np.ones((2, DIM)), np.zeros(2), {"embedding_model": {"dimension": DIM}})
    assert heads.versions("topics") == []


# ---------------------------------------------------------------------------------------------- names


def test_a_name_with_a_trailing_newline_is_invalid(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"invalid classifier name 'topics\\n'"):
        heads.check_name("topics\n")
    with pytest.raises(InvalidArgumentError, match=r"invalid classifier name 'topics\\n'"):
        sqlml.train_classifier("topics\n", ["a", "b"], ["x", "y"], embedding_model=str(tiny_model_dir), device="cpu")


@pytest.mark.parametrize(
    "version",
    ["\u00b2", "\u0661", "1\u00b2", " 1", "1\n", "+1", "0", "-1", "", "9" * 5000],
    ids=["superscript-two", "arabic-indic-one", "one-superscript-two", "leading-space", "trailing-newline", "plus", "zero", "negative",
         "empty", "5000-digits"],
)
def test_a_version_is_ascii_digits_from_1(version: str) -> None:
    _head()
    ref = f"topics@{version}"
    with pytest.raises(InvalidArgumentError, match=rf"^invalid version in {re.escape(repr(ref))}: write 'name@N' with N a version number >= 1, e\.g\. 'topics@1'$"):
        heads.load(ref)
    assert not heads.exists(ref)


def test_folders_with_a_trailing_newline_are_not_heads_or_versions() -> None:
    folder = _head()
    shutil.copytree(folder, heads.heads_dir() / "topics" / "v2\n")
    shutil.copytree(folder.parent, heads.heads_dir() / "bad\n")
    assert heads.versions("topics") == [1]
    assert heads.names() == ["topics"]
    assert [row["name"] for row in heads.list_heads()] == ["topics"]


def test_a_hub_id_with_a_trailing_newline_is_not_a_hub_id() -> None:
    with pytest.raises(ModelNotFoundError, match=r"^model directory 'org/model\\n' does not exist; check the path"):
        registry.resolve("org/model\n")
