"""Fine-tuned heads (``method='finetune'``): training, storage, versioning, use through every door, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.errors import InvalidArgumentError, ModelLoadError
from sqlml.models import heads
from sqlml.models.ref import fingerprint_directory
from sqlml.ops.classify import train
from sqlml.ops.classify.finetune import FineTuneOptions, default_steps
from tests.test_classify import training_rows


def fine_tuned(tiny_model_dir: Path, name: str = "tuned", **kwargs: object) -> train.TrainResult:
    texts, labels = training_rows()
    options = {"method": "finetune", "steps": 3, "test_size": 0, "embedding_model": str(tiny_model_dir), "device": "cpu", **kwargs}
    return train.train_classifier(name, texts, labels, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def other_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.random_model import build_random_model

    return build_random_model(tmp_path_factory.mktemp("other-base"), seed=1, hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=64)


def test_a_fine_tuned_head_stores_its_encoder_as_safetensors_with_the_base_fingerprint(tiny_model_dir: Path) -> None:
    result = fine_tuned(tiny_model_dir)
    folder = Path(result.path)
    assert sorted(p.name for p in folder.iterdir()) == ["encoder", "meta.json", "weights.safetensors"]
    encoder_files = {p.name for p in (folder / "encoder").rglob("*") if p.is_file()}
    assert "model.safetensors" in encoder_files
    assert not {f for f in encoder_files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))}
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kind"] == "fine-tuned-encoder+logistic-regression" and meta["training"]["method"] == "finetune"
    assert meta["base_model"]["fingerprint"] == fingerprint_directory(tiny_model_dir)
    assert meta["encoder"]["fingerprint"] == fingerprint_directory(folder / "encoder") == meta["embedding_model"]["fingerprint"]
    assert meta["training"]["fine_tune"]["steps"] == 3
    assert not list((folder.parent).glob(".partial-*"))  # the staging folder is gone


def test_classify_uses_the_fine_tuned_encoder(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.classify.long_text import text_vectors

    result = fine_tuned(tiny_model_dir)
    texts, _ = training_rows(6)
    scores = sqlml.classify_scores(texts, model="tuned", embedding_model=str(tiny_model_dir), device="cpu")
    head = heads.load(result.ref)
    tuned = head.probabilities(text_vectors(texts, get_runtime(str(Path(result.path) / "encoder"), "cpu")))
    base = head.probabilities(text_vectors(texts, get_runtime(str(tiny_model_dir), "cpu")))
    got = np.array([[s["score"] for s in sorted(row, key=lambda s: head.labels.index(s["label"]))] for row in scores])
    np.testing.assert_allclose(got, tuned, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, base, atol=1e-4)  # the base model's embeddings would give other scores


def test_fine_tuning_moves_the_encoder_and_is_deterministic(tiny_model_dir: Path) -> None:
    first = fine_tuned(tiny_model_dir, "a")
    second = fine_tuned(tiny_model_dir, "b")
    weights = [Path(r.path) / "encoder" / "model.safetensors" for r in (first, second)]
    assert weights[0].read_bytes() == weights[1].read_bytes()
    assert fingerprint_directory(Path(first.path) / "encoder") != fingerprint_directory(tiny_model_dir)


def test_the_same_rows_and_settings_give_the_same_version_and_others_a_new_one(tiny_model_dir: Path) -> None:
    assert fine_tuned(tiny_model_dir).version == 1
    assert fine_tuned(tiny_model_dir).version == 1
    assert fine_tuned(tiny_model_dir, steps=4).version == 2
    assert train.train_classifier("tuned", *training_rows(), embedding_model=str(tiny_model_dir), device="cpu").version == 3
    assert heads.load("tuned@3").encoder is None and heads.load("tuned@2").encoder is not None


def test_held_out_metrics_come_from_a_model_fine_tuned_without_the_held_out_rows(tiny_model_dir: Path) -> None:
    result = fine_tuned(tiny_model_dir, test_size=0.25)
    assert result.held_out == 10 and result.accuracy is not None and 0 <= result.accuracy <= 1
    meta = heads.load(result.ref).meta
    assert meta["metrics"]["held_out_rows"] == 10 and meta["training"]["rows"] == 40


def test_another_embedding_model_is_refused_and_the_base_model_accepted(tiny_model_dir: Path, other_base_dir: Path) -> None:
    fine_tuned(tiny_model_dir)
    with pytest.raises(InvalidArgumentError, match=r"fine-tuned from .* embeds with its own fine-tuned copy.*use the base model"):
        sqlml.classify(["a goal"], model="tuned", embedding_model=str(other_base_dir), device="cpu")
    assert sqlml.classify(["a goal"], model="tuned", embedding_model=str(tiny_model_dir), device="cpu")[0] in ("money", "sport")


def test_a_changed_or_missing_encoder_is_refused_naming_the_fix(tiny_model_dir: Path) -> None:
    import shutil

    result = fine_tuned(tiny_model_dir)
    config = Path(result.path) / "encoder" / "config.json"
    config.write_text(config.read_text() + " ")
    with pytest.raises(ModelLoadError, match=r"tuned@1 .*encoder/ folder whose files changed since training.*re-train it"):
        heads.load("tuned")
    shutil.rmtree(Path(result.path) / "encoder")
    with pytest.raises(ModelLoadError, match=r"is missing its fine-tuned encoder/ folder"):
        heads.load("tuned")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "svm"}, r"method must be one of 'lr', 'finetune' \(default 'lr'\); got 'svm'"),
    ({"method": "lr", "steps": 3}, r"steps applies to method 'finetune' only"),
    ({"steps": 0}, r"steps must be a whole number >= 1"),
])
def test_training_options_are_checked(tiny_model_dir: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        fine_tuned(tiny_model_dir, **kwargs)
    assert heads.versions("tuned") == []


def test_fine_tuning_through_sql(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    texts, labels = training_rows()
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS category)", [texts, labels])
    result = tiny_con.execute("SELECT sqlml_train('sqltuned', list(body), list(category), method := 'finetune', steps := 2, "
                              "test_size := 0) FROM t").fetchall()[0][0]
    assert result["model"] == "sqltuned@1"
    assert heads.load("sqltuned").encoder is not None
    in_sql = [r[0] for r in tiny_con.sql("SELECT classify(body, model := 'sqltuned') FROM t").fetchall()]
    assert in_sql == sqlml.classify(texts, model="sqltuned", embedding_model=str(tiny_model_dir), device="cpu")


def test_fine_tuning_through_the_cli(tiny_model_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sqlml.cli import main

    texts, labels = training_rows()
    pq.write_table(pa.table({"body": texts, "category": labels}), tmp_path / "train.parquet")
    out = CliRunner().invoke(main, ["train", "clituned", str(tmp_path / "train.parquet"), "--text", "body", "--label", "category",
                                    "--method", "finetune", "--steps", "2", "--test-size", "0", "--embedding-model",
                                    str(tiny_model_dir), "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert "trained clituned@1" in out.output and heads.load("clituned").encoder is not None


def test_default_steps_bound_the_cost() -> None:
    assert default_steps(8 * 77, 32) == 116
    assert default_steps(10_003, 32) == 800
    assert default_steps(40, 32) == 60
    assert default_steps(1_000_000, 32) == 800
    assert FineTuneOptions(steps=7).steps_for(10_000) == 7


def test_a_damaged_latest_version_does_not_block_training_again(tiny_model_dir: Path) -> None:
    result = fine_tuned(tiny_model_dir)
    config = Path(result.path) / "encoder" / "config.json"
    config.write_text(config.read_text() + " ")
    assert fine_tuned(tiny_model_dir).version == 2  # the error of v1 says "re-train it": that works
