"""Readable views of sqlml results in notebooks and terminals.

:func:`explain_table` turns a summary explanation (``summarize_explain`` in SQL or Python) into a
table that says which sentences were kept and which cluster each one stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sqlml.errors import InvalidArgumentError

COLUMNS = ("position", "selected", "cluster", "cluster_size", "score", "sentence")
#: The terms of ``score`` (and the boilerplate flag), shown between ``score`` and ``sentence`` when every row has them.
SCORE_TERMS = ("cluster_similarity", "centrality", "position_prior", "boilerplate")


class ExplanationTable(list[dict[str, Any]]):
    """One dict per sentence (position, selected, cluster, cluster_size, score, sentence and, from
    ``summarize_explain``, the score's terms), in text order.

    Renders as an HTML table in Jupyter (selected sentences in bold, on a tinted row) and as aligned
    text with ``print``. ``summary`` is the selected sentences joined by a space: ``summarize``'s result.
    """

    @property
    def summary(self) -> str:
        return " ".join(row["sentence"] for row in self if row["selected"])

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown: :data:`COLUMNS`, with :data:`SCORE_TERMS` before ``sentence`` where every row has them."""
        terms = SCORE_TERMS if self and all(all(term in row for term in SCORE_TERMS) for row in self) else ()
        return (*COLUMNS[:-1], *terms, COLUMNS[-1])

    def _cells(self, row: Mapping[str, Any]) -> list[str]:
        shown = {
            "position": str(row["position"]),
            "selected": "yes" if row["selected"] else "",
            "cluster": str(row["cluster"]),
            "cluster_size": str(row["cluster_size"]),
            "score": f"{row['score']:.3f}",
            "boilerplate": "yes" if row.get("boilerplate") else "",
            "sentence": row["sentence"],
        }
        return [shown[c] if c in shown else f"{row[c]:.3f}" for c in self.columns]

    def __str__(self) -> str:
        cells = [list(self.columns), *[self._cells(row) for row in self]]
        # Pad every column but the last: sentences stay unpadded so lines end where the text does.
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns) - 1)]
        return "\n".join("  ".join([*(v.ljust(w) for v, w in zip(r, widths, strict=False)), r[-1]]).rstrip() for r in cells)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = []
        for row in self:
            cells = [escape(v) for v in self._cells(row)]
            if row["selected"]:
                cells[-1] = f"<b>{cells[-1]}</b>"
            style = ' style="background-color: #e8f0fe"' if row["selected"] else ""
            tds = "".join(f'<td style="text-align: left">{v}</td>' if i == len(cells) - 1 else f"<td>{v}</td>" for i, v in enumerate(cells))
            body.append(f"<tr{style}>{tds}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def explain_table(explanation: str | Sequence[Mapping[str, Any]] | None, n: int = 3, *, model: str | None = None) -> ExplanationTable | None:
    """A readable table of why each sentence of one text is (not) in its summary.

    ``explanation``: the value of ``summarize_explain`` for one text (a list of dicts with position,
    sentence, cluster, cluster_size, score, selected, as returned by SQL ``fetchall()`` or by
    :func:`sqlml.summarize_explain` for one element), or the text itself, which is then explained with
    ``n`` sentences by ``model``. ``None`` (a NULL explanation) gives ``None``.

    Example: ``sqlml.explain_table(con.sql("SELECT summarize_explain(body) FROM news WHERE id = 4").fetchall()[0][0])``
    """
    if explanation is None:
        return None
    if isinstance(explanation, str):
        from sqlml.api import summarize_explain

        return explain_table(summarize_explain([explanation], n, model=model)[0])
    rows = list(explanation)
    missing = [c for c in COLUMNS if rows and not all(isinstance(r, Mapping) and c in r for r in rows)]
    if missing:
        raise InvalidArgumentError(
            f"explain_table: expected summarize_explain rows with fields {', '.join(COLUMNS)}; missing: {', '.join(missing)}"
        )
    return ExplanationTable(dict(row) for row in rows)
