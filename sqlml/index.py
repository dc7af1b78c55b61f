"""The Python door to named search indexes: :class:`Index` and :func:`list_indexes`.

>>> idx = sqlml.Index("news_idx")
>>> idx.build(df["id"], df["body"])              # or refresh(...): only changed rows are embedded
>>> idx.search("interest rates", k=5)            # [{'key': '17', 'score': 0.61, 'rank': 1}, ...]
>>> idx.search_many(["rates", "football"], k=3)  # one hit list per query, embedded together
>>> idx.neighbours(["17"], k=3, min_score=0.9)   # near-duplicates from stored vectors

The same operations as SQL's ``sqlml_index`` / ``sqlml_search_index`` / ``index_search`` / ``index_neighbours``
and the CLI's ``sqlml index``; all of them call :mod:`sqlml.ops.index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlml.config import Settings, check_model_argument
from sqlml.ops.index import store
from sqlml.ops.index.build import IndexReport, build_index
from sqlml.ops.index.search import neighbours, search_index
from sqlml.ops.relevance.scores import check_k, check_mode, check_query


class Index:
    """A named index in ``$SQLML_HOME/indexes``; it need not exist until :meth:`build`.

    ``device`` and ``batch_size`` choose where builds and query embeddings run (as in every sqlml call).
    """

    def __init__(self, name: str, *, device: str | None = None, batch_size: int | None = None) -> None:
        self.name = store.check_index_name(name)
        self._device, self._batch_size = device, batch_size

    def __repr__(self) -> str:
        return f"Index({self.name!r})"

    def _settings(self, model: Any = None) -> Settings:
        return Settings.resolve(model=check_model_argument(model, "model", "Index"), device=self._device, batch_size=self._batch_size)

    def build(self, keys: Any, texts: Any, *, model: Any = None, chunk: str | None = None, source: str | None = None,
              show_progress: bool | None = None) -> IndexReport:
        """Index ``texts`` under ``keys`` (lists, Arrow arrays or polars Series; keys read as text, distinct, non-NULL;
        NULL texts left out). ``chunk='sentences'`` stores long texts as passages (each hit names its best passage).
        Building an existing index refreshes it (only changed rows are embedded)."""
        return self.refresh(keys, texts, model=model, chunk=chunk, source=source, show_progress=show_progress)

    def refresh(self, keys: Any, texts: Any, *, model: Any = None, chunk: str | None = None, rebuild: bool = False,
                source: str | None = None, show_progress: bool | None = None) -> IndexReport:
        """Bring the index up to date with ``keys``/``texts``: changed rows re-embedded, new ones added, missing ones
        removed. ``rebuild=True`` re-embeds every row (for another ``model`` or ``chunk``, or a damaged index)."""
        return build_index(self.name, keys, texts, settings=self._settings(model), rebuild=rebuild, chunk=chunk, source=source,
                           show_progress=show_progress)

    def search(self, query: str, k: int = 10, mode: str = "semantic", *, keys: Sequence[Any] | None = None,
               model: Any = None) -> list[dict[str, Any]]:
        """The top-``k`` hits for ``query`` as ``[{'key', 'score', 'rank', 'passage'}, ...]``, best first; ``keys`` restricts the
        search to those rows (exact recall on them). ``mode``: ``'semantic'``, ``'lexical'`` or ``'hybrid'``."""
        return self.search_many([check_query(query, "Index.search")], k, mode, keys=keys, model=model)[0]

    def search_many(self, queries: Sequence[str | None], k: int = 10, mode: str = "semantic", *,
                    keys: Sequence[Any] | None = None, model: Any = None) -> list[list[dict[str, Any]] | None]:
        """:meth:`search` for every query at once (embedded together); a ``None`` query gives ``None``."""
        k, mode = check_k(k, "Index.search"), check_mode(mode, "Index.search")
        allowed = None if keys is None else [str(key) for key in keys]
        found = search_index(self.name, list(queries), k, mode, self._settings(), allowed=allowed,
                             model=check_model_argument(model, "model", "Index.search"))
        return [None if hits is None else hits.as_rows() for hits in found]

    def neighbours(self, keys: Sequence[Any], k: int = 5, *, other: Index | str | None = None,
                   min_score: float | None = None) -> list[list[dict[str, Any]] | None]:
        """For each key, the ``k`` rows nearest by cosine in ``other`` (default this index, the row itself left out),
        at least ``min_score`` when given; from stored vectors, no model call."""
        target = other.name if isinstance(other, Index) else other
        found = neighbours(self.name, [None if key is None else str(key) for key in keys], check_k(k, "Index.neighbours"),
                           other=target, min_score=min_score)
        return [None if hits is None else hits.as_rows() for hits in found]

    def info(self) -> dict[str, Any]:
        """The listing row of this index (see :func:`list_indexes`)."""
        store.load(self.name)  # an unknown or damaged index raises, naming the fix
        return store.describe(self.name)

    def drop(self) -> bool:
        """Remove the index and all its versions; ``False`` if it did not exist."""
        return store.drop(self.name)


def list_indexes() -> list[dict[str, Any]]:
    """Every index: name, version, source, rows, model, dimension, bytes, updated_at, path (and error if unreadable)."""
    return store.list_indexes()
