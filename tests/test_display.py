"""sqlml.explain_table: summary explanations as readable tables in notebooks and terminals."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import sqlml
from sqlml.display import ExplanationTable

ROWS = [
    {"position": 0, "sentence": "Rates rose.", "cluster": 0, "cluster_size": 2, "score": 1.5, "selected": True},
    {"position": 1, "sentence": "Shares <fell>.", "cluster": 0, "cluster_size": 2, "score": 1.25, "selected": False},
    {"position": 2, "sentence": "Rain came.", "cluster": 1, "cluster_size": 1, "score": 1.0, "selected": True},
]


def test_explain_table_renders_text_and_html() -> None:
    table = sqlml.explain_table(ROWS)
    assert isinstance(table, ExplanationTable)
    assert table.summary == "Rates rose. Rain came."
    assert str(table).splitlines() == [
        "position  selected  cluster  cluster_size  score  sentence",
        "0         yes       0        2             1.500  Rates rose.",
        "1                   0        2             1.250  Shares <fell>.",
        "2         yes       1        1             1.000  Rain came.",
    ]
    assert repr(table) == str(table)
    html = table._repr_html_()
    assert html.count("<tr") == 4
    assert "<b>Rates rose.</b>" in html
    assert "Shares &lt;fell&gt;." in html  # sentences are escaped, never HTML
    assert html.count('style="background-color: #e8f0fe"') == 2


def test_explain_table_shows_the_terms_of_the_score() -> None:
    terms = [(0.9, 0.35, 0.25, False), (0.8, 0.45, 0.0, True), (1.0, 0.0, 0.0, False)]
    rows = [{**row, "cluster_similarity": a, "centrality": b, "position_prior": c, "boilerplate": d}
            for row, (a, b, c, d) in zip(ROWS, terms, strict=True)]
    table = sqlml.explain_table(rows)
    assert table.columns == ("position", "selected", "cluster", "cluster_size", "score",
                             "cluster_similarity", "centrality", "position_prior", "boilerplate", "sentence")
    lines = str(table).splitlines()
    assert lines[0].split() == list(table.columns)
    assert lines[1].split() == ["0", "yes", "0", "2", "1.500", "0.900", "0.350", "0.250", "Rates", "rose."]
    assert lines[2].split() == ["1", "0", "2", "1.250", "0.800", "0.450", "0.000", "yes", "Shares", "<fell>."]
    assert "<th>position_prior</th>" in table._repr_html_()


def test_explain_table_of_a_real_explanation_shows_the_terms(tiny_model_dir: Path) -> None:
    explanation = sqlml.summarize_explain(["Rates rose. Shares fell. Rain came. Sun shone."], n=2, model=str(tiny_model_dir))[0]
    assert "position_prior" in sqlml.explain_table(explanation).columns


def test_explain_table_of_null_and_empty() -> None:
    assert sqlml.explain_table(None) is None
    assert sqlml.explain_table([]) == []


def test_explain_table_rejects_other_rows() -> None:
    with pytest.raises(sqlml.InvalidArgumentError) as info:
        sqlml.explain_table([{"sentence": "x"}])
    assert str(info.value) == (
        "explain_table: expected summarize_explain rows with fields position, selected, cluster, cluster_size, score, "
        "sentence; missing: position, selected, cluster, cluster_size, score"
    )


def test_explain_table_of_sql_result_and_of_text_agree(tiny_con: duckdb.DuckDBPyConnection, tiny_model_dir: Path) -> None:
    text = "The bank raised rates. Markets fell. Rain is expected. Fans cheered the win. The bank may act again."
    rows = tiny_con.execute("SELECT summarize_explain($t, n := 2)", {"t": text}).fetchall()[0][0]
    from_sql = sqlml.explain_table(rows)
    from_text = sqlml.explain_table(text, n=2, model=str(tiny_model_dir))
    assert from_sql == from_text
    assert from_sql.summary == tiny_con.execute("SELECT sqlml.summarize($t, n := 2)", {"t": text}).fetchall()[0][0]


def test_model_listing_renders_as_a_table_in_text_and_html() -> None:
    listing = sqlml.list_models()
    assert repr(listing) == str(listing)
    assert str(listing).splitlines()[0].split() == ["name", "id", "kind", "dimension", "device", "dtype", "loaded", "accuracy", "macro_f1"]
    assert "<td>default</td>" in listing._repr_html_()
