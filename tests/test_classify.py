"""Classification: zero-shot labels, trained heads, local Hugging Face classifiers; SQL, Python and CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlml
from sqlml.cli import main
from sqlml.errors import InvalidArgumentError, ModelLoadError, ModelNotFoundError
from sqlml.models import heads
from sqlml.ops.classify import core as ops
from sqlml.ops.classify import long_text, train

LABELS = ["sport", "money"]


def training_rows(n: int = 40) -> tuple[list[str], list[str]]:
    """Deterministic labelled rows: two vocabularies, so even a random model's embeddings separate them a little."""
    sport = ["goal", "match", "striker", "tennis", "race", "coach", "league", "stadium"]
    money = ["bank", "shares", "profit", "market", "loan", "budget", "tax", "interest"]
    texts, labels = [], []
    for i in range(n):
        words = sport if i % 2 == 0 else money
        texts.append(f"the {words[i % 8]} and the {words[(i * 3 + 1) % 8]} today {i}")
        labels.append(LABELS[i % 2])
    return texts, labels


@pytest.fixture(scope="session")
def hf_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BertForSequenceClassification (3 labels) with the default model's tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from sqlml.models.registry import default_model_dir

    out = tmp_path_factory.mktemp("hf-classifier")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, out / name)
    names = {0: "negative", 1: "neutral", 2: "positive"}
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=3,
                        id2label=names, label2id={v: k for k, v in names.items()})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny embedding model (other seed): same dimension, different weights."""
    from tests.support.random_model import build_random_model

    return build_random_model(tmp_path_factory.mktemp("other-model"), seed=1, hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=64)


@pytest.fixture
def trained(tiny_model_dir: Path) -> train.TrainResult:
    texts, labels = training_rows()
    return sqlml.train_classifier("topics", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.sql(sql).fetchall()[0][0]


# ---------------------------------------------------------------------------------------------- zero-shot


def test_zero_shot_keeps_rows_order_and_nulls(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql(
        "SELECT i, classify(t, ['sport', 'money', 'weather']) FROM (VALUES (1, 'a goal'), (2, NULL), (3, ''), (4, 'rain')) v(i, t) ORDER BY i"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert rows[1][1] is None
    assert all(r[1] in ("sport", "money", "weather") for r in rows if r[0] != 2)


def test_classify_scores_cover_every_label_sorted_and_sum_to_one(tiny_con: duckdb.DuckDBPyConnection) -> None:
    label, scores = tiny_con.sql(
        "SELECT classify('the match', ['sport', 'money', 'weather']), classify_scores('the match', ['sport', 'money', 'weather'])"
    ).fetchall()[0]
    assert sorted(s["label"] for s in scores) == ["money", "sport", "weather"]
    values = [s["score"] for s in scores]
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1.0)
    assert scores[0]["label"] == label


def test_margin_and_abstain_example_from_the_docs(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql(
        """SELECT id, s[1].label AS label, s[1].score - s[2].score AS margin,
                  CASE WHEN s[1].score >= 0.6 THEN s[1].label END AS label_or_null
           FROM (SELECT id, classify_scores(body, ['positive', 'negative']) AS s
                 FROM (VALUES (1, 'great'), (2, 'awful')) reviews(id, body)) ORDER BY id"""
    ).fetchall()
    for _, label, margin, abstained in rows:
        assert label in ("positive", "negative") and 0 <= margin <= 1
        assert abstained in (label, None)
    assert scalar(tiny_con, "SELECT list_filter(classify_scores('x', ['a', 'b']), lambda s: s.label = 'b')[1].score") > 0


def test_zero_shot_probabilities_are_softmax_of_cosine_over_temperature(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.embed import embed_strings

    runtime = get_runtime(str(tiny_model_dir), "cpu")
    text = embed_strings(["a goal"], runtime)
    labels = embed_strings(["This text is about sport.", "This text is about money."], runtime)
    cos = (text @ labels.T)[0].astype(np.float64)
    expected = np.exp(cos / 0.05) / np.exp(cos / 0.05).sum()
    scores = sqlml.classify_scores(["a goal"], labels=["sport", "money"], embedding_model=str(tiny_model_dir), device="cpu")[0]
    assert {s["label"]: s["score"] for s in scores} == pytest.approx({"sport": expected[0], "money": expected[1]})


def test_many_chunks_from_several_threads_keep_order(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    texts = [None if i % 97 == 0 else f"row {i} about {'sport' if i % 3 else 'money'}" for i in range(6000)]
    tiny_con.execute("SET threads = 4")
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(range(6000)) AS i, unnest(?) AS body)", [texts])
    in_sql = [r[0] for r in tiny_con.sql("SELECT classify(body, ['sport', 'money']) FROM t ORDER BY i").fetchall()]
    assert in_sql == sqlml.classify(texts, labels=["sport", "money"], embedding_model=str(tiny_model_dir), device="cpu")


def test_labels_can_differ_per_row(tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql(
        "SELECT classify(t, l) FROM (VALUES ('x', ['a', 'b']), ('y', ['c', 'd', 'e']), ('z', NULL)) v(t, l)"
    ).fetchall()
    assert rows[0][0] in ("a", "b") and rows[1][0] in ("c", "d", "e") and rows[2][0] is None


def test_rows_with_their_own_label_lists_embed_every_new_label_set_in_one_request(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime

    runtime = get_runtime(str(tiny_model_dir), "cpu")
    label_sets = [(f"own-{i}-a", f"own-{i}-b") for i in range(40)] + [("own-0-a", "own-0-b")]
    texts = pa.array([f"text {i}" for i in range(len(label_sets))])
    before = runtime.snapshot().requests
    prediction = ops.predict_zero_shot(texts, label_sets, runtime)
    assert runtime.snapshot().requests - before == 2  # the texts, then the 40 label sets together (a request per set waits a round each)
    assert prediction.label_array().to_pylist() == [ops.predict_zero_shot(texts.slice(i, 1), [s], runtime).label_array()[0].as_py()
                                                    for i, s in enumerate(label_sets)]


def test_descriptions_map_back_to_names_as_documented(tiny_con: duckdb.DuckDBPyConnection) -> None:
    got = scalar(
        tiny_con,
        "SELECT (['business', 'sport'])[list_position(descs, classify(body, descs))] "
        "FROM (SELECT 'a goal' AS body, ['business, economy and markets', 'sport, football and tennis'] AS descs)",
    )
    assert got in ("business", "sport")


def test_label_embeddings_are_cached_per_label_set(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime

    runtime = get_runtime(str(tiny_model_dir), "cpu")
    first = ops.label_vectors(("cache-a", "cache-b"), ops.DEFAULT_TEMPLATE, runtime)
    before = runtime.snapshot().rows
    assert ops.label_vectors(("cache-a", "cache-b"), ops.DEFAULT_TEMPLATE, runtime) is first
    assert runtime.snapshot().rows == before


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("classify('a', [])", r"classify: labels must be a non-empty list, e\.g\. \['sport', 'politics'\]"),
        ("classify('a', ['x', 'x', 'y'])", r"classify: labels must be distinct; \['x'\] appear more than once in \['x', 'x', 'y'\]"),
        ("classify_scores('a', ['x', NULL])", r"classify_scores: labels must not contain NULL; got \['x', None\]"),
        ("classify('a')", r"classify: give labels \(a list of label names\) for zero-shot classification or model"),
        ("classify('a', ['x'], model := 'topics')", r"classify: give labels \(zero-shot\) or model .*, not both"),
        ("classify('a', ['x'], template := 'no placeholder')", r"classify: template must contain '\{label\}' exactly once"),
        ("classify('a', ['x'], temperature := 0)", r"classify: temperature must be > 0 \(default 0\.05\); got 0\.0"),
    ],
)
def test_zero_shot_errors(tiny_con: duckdb.DuckDBPyConnection, sql: str, message: str) -> None:
    with pytest.raises(duckdb.Error, match=message):
        tiny_con.sql(f"SELECT {sql}").fetchall()


def test_template_changes_the_prompt(tiny_con: duckdb.DuckDBPyConnection) -> None:
    a = scalar(tiny_con, "SELECT classify_scores('x', ['a', 'b'])[1].score")
    b = scalar(tiny_con, "SELECT classify_scores('x', ['a', 'b'], template := '{label}')[1].score")
    assert a != b


def test_python_api_inputs_and_outputs(tiny_model_dir: Path) -> None:
    import polars as pl

    kwargs = {"labels": ["sport", "money"], "embedding_model": str(tiny_model_dir), "device": "cpu"}
    as_list = sqlml.classify(["a goal", None], **kwargs)
    assert as_list[1] is None and as_list[0] in LABELS
    assert sqlml.classify(pa.array(["a goal", None]), output="arrow", **kwargs).to_pylist() == as_list
    series = sqlml.classify(pl.Series(["a goal", None]), output="polars", **kwargs)
    assert series.name == "label" and series.to_list() == as_list
    scores = sqlml.classify_scores(["a goal"], output="arrow", **kwargs)
    assert scores.type == ops.SCORE_TYPE
    with pytest.raises(InvalidArgumentError, match=r"classify: labels must be a list of strings, not one string"):
        sqlml.classify(["x"], labels="sport", embedding_model=str(tiny_model_dir), device="cpu")


def test_long_texts_are_embedded_as_the_mean_of_sentence_chunks(tiny_model_dir: Path) -> None:
    from sqlml.engine.runtime import get_runtime
    from sqlml.ops.embed import embed_strings

    runtime = get_runtime(str(tiny_model_dir), "cpu")
    article = " ".join(f"Sentence number {i} talks about the weather in town." for i in range(60))
    chunks = long_text.chunk_text(article, runtime, 256)
    assert len(chunks) > 1 and all(c in article for c in chunks)
    assert runtime.encoder.tokenize(chunks).lengths.max() <= 256
    mean = embed_strings(chunks, runtime).mean(axis=0)
    vectors = long_text.text_vectors([article, "short text"], runtime)
    np.testing.assert_allclose(vectors[0], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors[1], embed_strings(["short text"], runtime)[0], rtol=1e-5, atol=1e-6)  # padding differs


# ---------------------------------------------------------------------------------------------- trained heads


def test_train_stores_safetensors_and_json_metadata(trained: train.TrainResult, tiny_model_dir: Path) -> None:
    assert (trained.name, trained.version, trained.ref) == ("topics", 1, "topics@1")
    assert trained.labels == ("money", "sport") and trained.rows == 40 and trained.held_out == 8
    assert 0 <= trained.accuracy <= 1 and 0 <= trained.macro_f1 <= 1
    folder = Path(trained.path)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "weights.safetensors", "words.json"]
    meta = json.loads((folder / "meta.json").read_text())
    terms = meta["words"]["terms"]
    assert meta["training"]["features"] == "embedding+words" and terms == len(json.loads((folder / "words.json").read_text())["vocabulary"]) > 0
    assert meta["name"] == "topics" and meta["version"] == 1 and meta["labels"] == ["money", "sport"]
    assert meta["embedding_model"]["dimension"] == 32 and meta["embedding_model"]["id"] == str(tiny_model_dir)
    assert set(meta["metrics"]) >= {"accuracy", "macro_f1"} and meta["sqlml_version"] == sqlml.__version__
    assert "created_at" in meta
    from safetensors.numpy import load_file

    weights = load_file(folder / "weights.safetensors")
    assert weights["coef"].shape == (2, 32 + terms) and weights["intercept"].shape == (2,) and weights["idf"].shape == (terms,)
    assert str(folder).startswith(str(heads.heads_dir()))


def test_trained_head_through_sql(tiny_con: duckdb.DuckDBPyConnection) -> None:
    texts, labels = training_rows()
    tiny_con.execute("CREATE TABLE train_news AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS category)", [texts, labels])
    result = scalar(tiny_con, "SELECT sqlml_train('sqltopics', list(body), list(category)) FROM train_news")
    assert result["model"] == "sqltopics@1" and result["rows"] == 40 and result["labels"] == ["money", "sport"]
    rows = tiny_con.sql(
        "SELECT classify(body, model := 'sqltopics'), classify_scores(body, model := 'sqltopics@1') FROM train_news LIMIT 3"
    ).fetchall()
    for label, scores in rows:
        assert label == scores[0]["label"] and sum(s["score"] for s in scores) == pytest.approx(1.0)


def test_training_data_round_trip_matches_python(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    texts, labels = training_rows()
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS category)", [texts, labels])
    assert scalar(tiny_con, "SELECT sqlml_train('rt', list(body), list(category)).version FROM t") == 1
    in_sql = [r[0] for r in tiny_con.sql("SELECT classify(body, model := 'rt') FROM t").fetchall()]
    in_python = sqlml.classify(texts, model="rt", embedding_model=str(tiny_model_dir), device="cpu")
    assert in_sql == in_python


def test_unnested_training_call_stores_one_version(tiny_con: duckdb.DuckDBPyConnection) -> None:
    texts, labels = training_rows()
    tiny_con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS category)", [texts, labels])
    rows = tiny_con.sql("SELECT unnest(sqlml_train('once', list(body), list(category))) FROM t").fetchall()
    assert rows[0][:3] == ("once", 1, "once@1")
    assert heads.versions("once") == [1]


def test_sql_training_skips_null_rows_and_null_group_gives_null(tiny_con: duckdb.DuckDBPyConnection) -> None:
    texts, labels = training_rows()
    tiny_con.execute(
        "CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS body, unnest(?) AS category)",
        [[*texts, None, "no label"], [*labels, "sport", None]],
    )
    result = scalar(tiny_con, "SELECT sqlml_train('nulls', list(body), list(category)) FROM t")
    assert (result["rows"], result["skipped"]) == (40, 2)
    assert scalar(tiny_con, "SELECT sqlml_train(NULL, ['a'], ['b'])") is None


def test_retraining_creates_versions_and_version_selection(tiny_model_dir: Path) -> None:
    texts, labels = training_rows()
    kwargs = {"embedding_model": str(tiny_model_dir), "device": "cpu"}
    first = sqlml.train_classifier("v", texts, labels, **kwargs)
    second = sqlml.train_classifier("v", texts, [{"sport": "ball", "money": "cash"}[x] for x in labels], **kwargs)
    assert (first.version, second.version) == (1, 2) and heads.versions("v") == [1, 2]
    assert set(sqlml.classify(texts, model="v", **kwargs)) <= {"ball", "cash"}  # latest
    assert set(sqlml.classify(texts, model="v@1", **kwargs)) <= {"sport", "money"}
    assert set(sqlml.classify(texts, model="v@2", **kwargs)) <= {"ball", "cash"}
    with pytest.raises(ModelNotFoundError, match=r"^classifier 'v' has no version 3; its versions are v@1, v@2 \(plain 'v' means the latest\)$"):
        sqlml.classify(texts, model="v@3", **kwargs)
    with pytest.raises(InvalidArgumentError, match=r"invalid version in 'v@x': write 'name@N'"):
        sqlml.classify(texts, model="v@x", **kwargs)


def test_a_non_ascii_digit_version_is_an_argument_error_in_sql(trained: train.TrainResult, tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match=r"invalid version in 'topics@\u00b2': write 'name@N' with N a version number >= 1, e\.g\. 'topics@1'"):
        tiny_con.sql("SELECT classify('x', model := 'topics@\u00b2')").fetchall()


def test_same_data_returns_the_latest_version_instead_of_a_copy(tiny_model_dir: Path) -> None:
    texts, labels = training_rows()
    kwargs = {"embedding_model": str(tiny_model_dir), "device": "cpu"}
    first = sqlml.train_classifier("same", texts, labels, **kwargs)
    again = sqlml.train_classifier("same", texts, labels, **kwargs)
    other_seed = sqlml.train_classifier("same", texts, labels, seed=1, **kwargs)
    assert (first.version, again.version, other_seed.version) == (1, 1, 2)
    assert again == first


def test_training_is_deterministic_with_a_fixed_seed(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = training_rows()
    weights = []
    for home in ("a", "b"):
        monkeypatch.setenv("SQLML_HOME", str(tmp_path / home))
        result = sqlml.train_classifier("det", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", seed=7)
        weights.append((Path(result.path) / "weights.safetensors").read_bytes())
        metrics = (result.accuracy, result.macro_f1)
    assert weights[0] == weights[1]
    assert metrics == (result.accuracy, result.macro_f1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, r"invalid classifier name 'bad name': use letters, digits"),
        ({"labels": ["one"] * 40}, r"train_classifier: need at least 2 distinct labels among the non-NULL rows, found 1 \(\['one'\]\) in 40 rows"),
        ({"labels": ["a", "b"]}, r"train_classifier: texts and labels differ in length \(40 vs 2\)"),
        ({"test_size": 1.0}, r"train_classifier: test_size must be in \[0, 1\)"),
        ({"c": 0.0}, r"train_classifier: c must be > 0"),
    ],
)
def test_training_errors(tiny_model_dir: Path, kwargs: dict[str, object], message: str) -> None:
    texts, labels = training_rows()
    args = {"name": "err", "texts": texts, "labels": labels, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        sqlml.train_classifier(args.pop("name"), args.pop("texts"), args.pop("labels"), embedding_model=str(tiny_model_dir), device="cpu", **args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, r"^train_classifier: seed must be a whole number from 0 to 4294967295, got -1$"),
        ({"seed": 2**32}, r"^train_classifier: seed must be a whole number from 0 to 4294967295, got 4294967296, above the largest allowed \(4294967295\)$"),
        ({"seed": 1.5}, r"^train_classifier: seed must be a whole number from 0 to 4294967295, got 1\.5$"),
        ({"seed": True}, r"^train_classifier: seed must be a whole number from 0 to 4294967295, got True$"),
        ({"c": "1"}, r"^train_classifier: c must be > 0 \(default 10\.0\); got '1'$"),
        ({"c": True}, r"^train_classifier: c must be > 0 \(default 10\.0\); got True$"),
        ({"test_size": "0.2"}, r"^train_classifier: test_size must be in \[0, 1\) \(default 0\.2\); got '0\.2'$"),
        ({"batch_size": 0}, r"^batch_size must be a whole number of rows >= 1, got 0; leave it unset to use SQLML_BATCH_SIZE or the default$"),
        ({"max_batch_tokens": 2**63}, r"^max_batch_tokens must be a whole number of tokens >= 1, got 9223372036854775808, above the largest"),
    ],
)
def test_training_number_arguments_are_checked(tiny_model_dir: Path, kwargs: dict[str, object], message: str) -> None:
    texts, labels = training_rows()
    with pytest.raises(InvalidArgumentError, match=message):
        sqlml.train_classifier("err", texts, labels, embedding_model=str(tiny_model_dir), device="cpu", **kwargs)  # type: ignore[arg-type]
    assert heads.versions("err") == []


def test_model_arguments_take_paths_and_refuse_other_types(trained: train.TrainResult, tiny_model_dir: Path) -> None:
    texts, labels = training_rows()
    as_path = sqlml.classify(["the goal"], model="topics", embedding_model=tiny_model_dir, device="cpu")
    assert as_path == sqlml.classify(["the goal"], model="topics", embedding_model=str(tiny_model_dir), device="cpu")
    assert len(sqlml.classify_scores(["the goal"], ["a", "b"], embedding_model=tiny_model_dir, device="cpu")[0]) == 2
    assert sqlml.train_classifier("paths", texts, labels, embedding_model=tiny_model_dir, device="cpu").version == 1
    missing = tiny_model_dir.parent / "no-such-classifier"
    with pytest.raises(ModelNotFoundError, match=rf"^classifier directory {re.escape(repr(str(missing)))} does not exist"):
        sqlml.classify(["x"], model=missing, device="cpu")
    calls = {
        "classify model": lambda: sqlml.classify(["x"], model=7, device="cpu"),  # type: ignore[arg-type]
        "classify_scores embedding_model": lambda: sqlml.classify_scores(["x"], ["a", "b"], embedding_model=7, device="cpu"),  # type: ignore[arg-type]
        "train_classifier embedding_model": lambda: sqlml.train_classifier("int", texts, labels, embedding_model=7, device="cpu"),  # type: ignore[arg-type]
    }
    for what, run in calls.items():
        function, argument = what.split()
        with pytest.raises(InvalidArgumentError, match=rf"^{function}: {argument} must be a name or a path \(str or os\.PathLike\), not int 7; "):
            run()


def test_too_few_rows_for_a_held_out_split_still_trains(tiny_model_dir: Path) -> None:
    result = sqlml.train_classifier("tiny", ["a", "b", "c"], ["x", "y", "y"], embedding_model=str(tiny_model_dir), device="cpu")
    assert result.accuracy is None and result.held_out == 0
    assert result.note == "label 'x' has only 1 row; stratified held-out split needs >= 2 per label"
    assert "no held-out metrics" in str(result)


def test_unknown_classifier_lists_the_known_ones(trained: train.TrainResult, tiny_con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match=r"classifier 'nope' not found in '.*heads'; known classifiers: 'topics' \(v1\)\. Give labels"):
        tiny_con.sql("SELECT classify('x', model := 'nope')").fetchall()
    with pytest.raises(ModelNotFoundError, match=r"classifier directory '/no/such/dir' does not exist; check the path, or use a trained classifier: 'topics' \(v1\)"):
        sqlml.classify(["x"], model="/no/such/dir", device="cpu")


def test_no_heads_yet_says_how_to_train_one() -> None:
    with pytest.raises(ModelNotFoundError, match=r"known classifiers: none yet \(train one with sqlml_train, `sqlml train` or sqlml.train_classifier\)"):
        heads.load("topics")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "weights.safetensors").unlink(), r"classifier topics@1 \('.*v1'\) is missing weights\.safetensors; re-train it"),
        (lambda f: (f / "weights.safetensors").write_bytes(b"\x00garbage"), r"classifier topics@1 \('.*v1'\) has a corrupt weights\.safetensors"),
        (lambda f: (f / "meta.json").unlink(), r"classifier topics@1 \('.*v1'\) is missing meta\.json; re-train it"),
        (lambda f: (f / "meta.json").write_text("{not json"), r"classifier topics@1 \('.*v1'\) has an unreadable meta\.json"),
        (lambda f: (f / "meta.json").write_text(json.dumps({**json.loads((f / "meta.json").read_text()), "labels": ["a"]})),
         r"classifier topics@1 \('.*v1'\) has inconsistent files \(labels, weight shapes and meta\.json disagree\)"),
    ],
)
def test_damaged_store_files_give_clear_errors(trained: train.TrainResult, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    damage(Path(trained.path))
    with pytest.raises(ModelLoadError, match=message):
        sqlml.classify(["x"], model="topics", device="cpu")


def test_a_failed_save_leaves_no_partial_version(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    import safetensors.numpy

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save", broken)
    texts, labels = training_rows()
    with pytest.raises(OSError, match="disk full"):
        sqlml.train_classifier("crash", texts, labels, embedding_model=str(tiny_model_dir), device="cpu")
    assert list((heads.heads_dir() / "crash").iterdir()) == [] and heads.versions("crash") == []


def test_head_on_another_embedding_model_is_refused(trained: train.TrainResult, other_model_dir: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=rf"classifier 'topics@1' was trained on embeddings of '{tiny_model_dir}' \(32-d\) but this call embeds with "
        rf"'{other_model_dir}' \(32-d\); use the model it was trained on",
    ):
        sqlml.classify(["x"], model="topics", embedding_model=str(other_model_dir), device="cpu")


def test_sql_embedding_model_argument(trained: train.TrainResult, tiny_con: duckdb.DuckDBPyConnection, other_model_dir: Path) -> None:
    with pytest.raises(duckdb.Error, match=r"classifier 'topics@1' was trained on embeddings of .* \(embedding_model := '.*' in SQL"):
        tiny_con.sql(f"SELECT classify('x', model := 'topics', embedding_model := '{other_model_dir}')").fetchall()
    zero_shot = tiny_con.sql(f"SELECT classify_scores('x', ['a', 'b'], embedding_model := '{other_model_dir}')[1].score").fetchall()
    assert zero_shot != tiny_con.sql("SELECT classify_scores('x', ['a', 'b'])[1].score").fetchall()


def test_models_listing_shows_heads_with_metrics(trained: train.TrainResult, tiny_con: duckdb.DuckDBPyConnection) -> None:
    rows = tiny_con.sql("SELECT name, kind, dimension, accuracy, macro_f1 FROM sqlml_models() WHERE kind = 'classifier-head'").fetchall()
    assert rows == [("topics@1", "classifier-head", 2, round(trained.accuracy, 4), round(trained.macro_f1, 4))]
    out = CliRunner().invoke(main, ["models"])
    assert out.exit_code == 0 and "topics@1" in out.output and "classifier-head" in out.output


# ---------------------------------------------------------------------------------------------- Hugging Face


def test_hf_sequence_classifier_through_sql(tiny_con: duckdb.DuckDBPyConnection, hf_classifier_dir: Path) -> None:
    rows = tiny_con.sql(
        f"SELECT classify(t, model := '{hf_classifier_dir}'), classify_scores(t, model := '{hf_classifier_dir}') "
        "FROM (VALUES ('good film'), (NULL), ('')) v(t)"
    ).fetchall()
    assert rows[1] == (None, None)
    for label, scores in (rows[0], rows[2]):
        assert sorted(s["label"] for s in scores) == ["negative", "neutral", "positive"]
        assert label == scores[0]["label"] and sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-6)
    listed = tiny_con.sql(  # other tests of this process may have loaded classifiers of their own
        f"SELECT kind, dimension, device FROM sqlml_models() WHERE kind = 'hf-classifier' AND name = '{hf_classifier_dir.resolve()}'"
    ).fetchall()
    assert listed == [("hf-classifier", 3, "cpu")]


def test_hf_classifier_matches_transformers_and_is_batched(hf_classifier_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sqlml.engine.classifiers import get_classifier_runtime

    texts = [f"review number {i} " + "very " * (i % 7) + "good" for i in range(50)]
    scores = sqlml.classify_scores(texts, model=str(hf_classifier_dir), device="cpu")
    model = AutoModelForSequenceClassification.from_pretrained(hf_classifier_dir).eval()
    tokens = AutoTokenizer.from_pretrained(hf_classifier_dir)(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(model(**tokens).logits, dim=-1).numpy()
    got = np.array([[{s["label"]: s["score"] for s in row}[n] for n in ("negative", "neutral", "positive")] for row in scores])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert get_classifier_runtime(str(hf_classifier_dir), "cpu").snapshot().rows >= 50


def test_a_directory_that_is_not_a_sequence_classifier_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"is not a sequence classifier \(its config.json names no \*ForSequenceClassification architecture\)"):
        sqlml.classify(["x"], model=str(tiny_model_dir), device="cpu")


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def labelled_parquet(tmp_path: Path) -> Iterator[Path]:
    texts, labels = training_rows()
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"id": list(range(40)), "body": texts, "category": labels}), path)
    yield path


def test_cli_train_classify_and_models(labelled_parquet: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--embedding-model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    out = runner.invoke(main, ["train", "clitopics", str(labelled_parquet), "--text", "body", "--label", "category", *common])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("trained clitopics@1: 2 labels, 40 rows (0 skipped for NULL); held-out accuracy ")
    target = tmp_path / "out.parquet"
    out = runner.invoke(main, ["classify", str(labelled_parquet), "--column", "body", "--model", "clitopics", "-o", str(target), *common])
    assert out.exit_code == 0, out.output
    table = pq.read_table(target)
    assert table.column_names == ["id", "body", "category", "label"] and set(table.column("label").to_pylist()) <= set(LABELS)
    out = runner.invoke(main, ["classify", str(labelled_parquet), "-c", "body", "--labels", "sport, money", "--scores", "-o", str(target), *common])
    assert out.exit_code == 0, out.output
    scores = pq.read_table(target).column("scores").to_pylist()
    assert len(scores) == 40 and {s["label"] for s in scores[0]} == set(LABELS)
    assert "clitopics@1" in runner.invoke(main, ["models"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: classify: give labels (a list of label names) for zero-shot classification or model"),
        (["--labels", "a,b", "--model", "topics"], "Error: classify: give labels (zero-shot) or model"),
        (["--labels", "a,a"], "Error: classify: labels must be distinct; ['a'] appear more than once in ['a', 'a']"),
        (["--model", "missing"], "Error: classifier 'missing' not found in"),
    ],
)
def test_cli_classify_errors(labelled_parquet: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = CliRunner().invoke(main, ["classify", str(labelled_parquet), "-c", "body", "-o", str(tmp_path / "o.parquet"), "--device", "cpu", *args])
    assert out.exit_code == 1 and message in out.output


def test_cli_train_missing_label_column(labelled_parquet: Path) -> None:
    out = CliRunner().invoke(main, ["train", "x", str(labelled_parquet), "--text", "body", "--label", "topic"])
    assert out.exit_code == 1 and "Error: column 'topic' is not in the input; its columns are: id, body, category" in out.output


# ---------------------------------------------------------------------------------------------- quality (real model)


def test_zero_shot_quality_with_the_default_model(default_con: duckdb.DuckDBPyConnection) -> None:
    rows = default_con.sql(
        """SELECT expected, classify(t, ['sport', 'business', 'politics', 'technology']) FROM (VALUES
             ('The striker scored twice as the home team won the cup final.', 'sport'),
             ('Shares fell sharply after the bank reported lower quarterly profits.', 'business'),
             ('The prime minister called an early general election after the vote.', 'politics'),
             ('The new smartphone chip doubles battery life and speeds up apps.', 'technology')) v(t, expected)"""
    ).fetchall()
    assert all(expected == got for expected, got in rows)


def test_demo_query_runs(default_con: duckdb.DuckDBPyConnection) -> None:
    from sqlml.cli.demo import demo_queries
    from sqlml.resources import sample_articles_path

    title, sql = next(q for q in demo_queries(sample_articles_path()) if "classify_scores(" in q[1])
    rows = default_con.sql(sql).fetchall()
    assert len(rows) == 8 and all(r[2] in ("business", "sport", "politics", "tech", "entertainment", "science") for r in rows)


def test_cli_classify_passes_the_temperature_to_the_core(labelled_parquet: Path, tmp_path: Path) -> None:
    # The CLI and Ray once built zero-shot classifiers of their own and dropped temperature.
    runner = CliRunner()
    tops = []
    for extra in ([], ["--temperature", "5"]):
        target = tmp_path / f"t{len(extra)}.parquet"
        args = ["classify", str(labelled_parquet), "-c", "body", "--labels", ",".join(LABELS), "--scores", "-o", str(target), "--device", "cpu"]
        out = runner.invoke(main, [*args, *extra])
        assert out.exit_code == 0, out.output
        tops.append(pq.read_table(target).column("scores").to_pylist()[0][0]["score"])
    assert tops[1] < tops[0]  # a higher temperature flattens the probabilities


def test_a_classifier_model_ignores_zero_shot_template_and_temperature(tiny_model_dir: Path, hf_classifier_dir: Path) -> None:
    # template and temperature shape zero-shot prompts and scores; with a model they have no effect and are not checked.
    import sqlml

    texts = ["the match ended 2-1", None]
    plain = sqlml.classify(texts, model=str(hf_classifier_dir), device="cpu")
    assert sqlml.classify(texts, model=str(hf_classifier_dir), device="cpu", template="no placeholder", temperature=0) == plain
