"""The Python API: lists, Arrow arrays and polars Series in; numpy, Arrow, polars or lists out.

Every function resolves its :class:`~sqlml.config.Settings` once, binds the operation through
:mod:`sqlml.ops.calls` (the core SQL, the CLI and Ray use too), runs it under the ``on_error`` row policy
(:mod:`sqlml.on_error`) with an optional progress bar, and converts the Arrow result once (:func:`convert`).
NULL (``None``) in → the operation's NULL result out; row count and order are kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from sqlml import progress
from sqlml.config import Settings, check_model_argument
from sqlml.errors import InvalidArgumentError
from sqlml.on_error import python_texts, run_rows
from sqlml.ops.calls import (
    Bound,
    bind_classify,
    bind_embed,
    bind_relevance,
    bind_summarize,
    bind_summarize_explain,
    bind_top_k_sentences,
    mode_runtime,
)
from sqlml.ops.classify.core import resolve_classifier
from sqlml.ops.relevance.scores import SEARCH_COLUMNS, Mode, check_k, check_mode, check_query, check_table_columns, search_array

Output = Literal["numpy", "arrow", "polars", "list"]
#: A model argument: a name, a hub id or a folder (``str`` or ``os.PathLike``).
ModelArg = str | os.PathLike[str] | None

#: Texts per step of a call: the progress bar moves per step and results are bounded per step. Embedding and
#: classification steps are larger so the runtime always has several chunks of one step in flight (the caller
#: tokenizes the next chunk while the model runs one).
STEP_ROWS = {"embed": 65_536, "classify": 32_768, "classify_scores": 32_768}
DEFAULT_STEP_ROWS = 2048

ON_ERROR_DOC = """
    ``on_error``: ``'raise'`` (default) raises :class:`sqlml.RowFailedError` naming the first row whose
    text makes the operation fail; ``'null'`` gives that row's NULL result (counted in :func:`sqlml.stats`)
    and every other row its normal result. Argument errors raise under both.
"""


def convert(result: pa.Array, output: str, name: str) -> Any:
    """``result`` as ``output``: ``'arrow'`` as is, ``'polars'`` a ``pl.Series`` named ``name``, ``'list'``
    Python values, ``'numpy'`` a float32 array (vectors: ``(n, d)``; scores: ``(n,)``) with NaN for NULL rows."""
    if output == "arrow":
        return result
    if output == "polars":
        import polars as pl

        return pl.Series(name, result)
    if output == "list":
        return result.to_pylist()
    if output == "numpy":
        nulls = result.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_fixed_size_list(result.type):
            matrix = result.values.to_numpy(zero_copy_only=False).reshape(len(result), result.type.list_size).astype(np.float32)
        else:
            matrix = result.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float32)
        if nulls.any():
            matrix = matrix.copy()
            matrix[nulls] = np.nan
        return matrix
    raise InvalidArgumentError(f"output must be 'numpy', 'arrow', 'polars' or 'list', not {output!r}")


def _check_flag(value: Any, name: str, function: str) -> bool:
    """``value`` when it is a bool; anything else (a string ``'false'`` would be truthy) is refused by name."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{function}: {name} must be True or False, not {type(value).__name__} {value!r}")
    return bool(value)


def _check_output(output: str, allowed: tuple[str, ...]) -> str:
    if output not in allowed:
        raise InvalidArgumentError(f"output must be {', '.join(repr(o) for o in allowed[:-1])} or {allowed[-1]!r}, not {output!r}")
    return output


def _like(texts: Any) -> str:
    """The output kind that matches the input's: Arrow → ``'arrow'``, polars → ``'polars'``, else ``'list'``."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return "arrow"
    return "polars" if type(texts).__module__.startswith("polars") else "list"


def _settings(function: str, model: Any, argument: str = "model", **options: Any) -> Settings:
    """The call's :class:`Settings`; its embedding ``model`` (named ``argument``) may be a name, a path or ``os.PathLike``."""
    return Settings.resolve(model=check_model_argument(model, argument, function), **options)


def _run(function: str, texts: Any, bound: Bound, on_error: str | None, show_progress: bool | None) -> pa.Array:
    """``bound`` over ``texts`` in steps, under the ``on_error`` policy, with a progress bar when asked."""
    array = python_texts(texts, function, on_error)
    show = progress.enabled(show_progress, False)
    step = STEP_ROWS.get(function, DEFAULT_STEP_ROWS)

    def compute(part: pa.StringArray, _start: int, _stop: int) -> pa.Array:
        if len(part) == 0:
            return bound(part, {})
        pieces = []
        with progress.progress_bar(len(part), function, show) as bar:
            for start in range(0, len(part), step):
                piece = part.slice(start, step)
                pieces.append(bound(piece, {}))
                bar.update(len(piece))
        return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)

    return run_rows(function, array, compute, on_error)


def embed(
    texts: Any,
    *,
    model: ModelArg = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    output: Output = "numpy",
    cache: bool | None = None,
    on_error: str | None = None,
) -> Any:
    """Embed texts with ``model`` (default: the embedded all-MiniLM-L6-v2).

    ``texts``: a list of ``str | None``, a pyarrow string array or a polars ``Series``.
    Returns, by ``output``: ``"numpy"`` → ``float32 ndarray (n, d)`` (NaN rows for nulls);
    ``"arrow"`` → ``pa.FixedSizeListArray``; ``"polars"`` → ``pl.Series`` of ``Array(Float32, d)``.
    ``cache``: use the persistent embedding cache (default: ``SQLML_CACHE``, on).
    """
    _check_output(output, ("numpy", "arrow", "polars"))
    settings = _settings("embed", model, device=device, dtype=dtype, batch_size=batch_size, cache=cache)
    return convert(_run("embed", texts, bind_embed(settings), on_error, show_progress), output, "embedding")


def summarize(
    texts: Any,
    n: int = 3,
    *,
    max_words: int | None = None,
    model: ModelArg = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    on_error: str | None = None,
) -> Any:
    """Extractive summaries of ``n`` sentences each (verbatim, in original order, joined by a space).

    ``texts``: a list of ``str | None``, a pyarrow string array or a polars ``Series``; the result has
    the same kind (list of ``str | None``, ``pa.StringArray``, ``pl.Series`` of strings). NULL or empty
    text → ``None``. ``n <= 0`` raises :class:`InvalidArgumentError`. ``max_words``: a length budget; sentences are
    kept in the summary's ranking while their words (counted between spaces) fit it, up to ``n``; the best one
    always, a byline or time stamp only as that best one (``sqlml.summarize(texts, n=10, max_words=60)``: about 60
    words).
    Example: ``sqlml.summarize(df["body"], n=2)`` on a polars column gives a ``Series`` named ``summary``.
    """
    settings = _settings("summarize", model, device=device, batch_size=batch_size)
    bound = bind_summarize(settings, "summarize", n=n, max_words=max_words)
    return convert(_run("summarize", texts, bound, on_error, show_progress), _like(texts), "summary")


def summarize_explain(
    texts: Any,
    n: int = 3,
    *,
    max_words: int | None = None,
    model: ModelArg = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    on_error: str | None = None,
) -> Any:
    """For every sentence of every text: position, sentence, cluster, cluster_size, score, selected,
    cluster_similarity, centrality, position_prior, boilerplate.

    Same inputs as :func:`summarize` (``max_words`` included); a list in gives a list of ``list[dict] | None``, Arrow
    gives a ``pa.ListArray`` of structs, polars a ``pl.Series`` of lists of structs. The selected sentences,
    joined by a space, are exactly :func:`summarize`'s result.
    """
    settings = _settings("summarize_explain", model, device=device, batch_size=batch_size)
    bound = bind_summarize_explain(settings, "summarize_explain", n=n, max_words=max_words)
    return convert(_run("summarize_explain", texts, bound, on_error, show_progress), _like(texts), "explanation")


def _classify(
    function: str, texts: Any, labels: Sequence[str] | None, model: ModelArg, embedding_model: ModelArg, template: str | None,
    temperature: float | None, device: str | None, batch_size: int | None, show_progress: bool | None, output: str,
    on_error: str | None, refine: bool,
) -> Any:
    _check_output(output, ("list", "arrow", "polars"))
    settings = _settings(function, embedding_model, "embedding_model", device=device, batch_size=batch_size)
    kind = "scores" if function == "classify_scores" else "label"
    if _check_flag(refine, "refine", function):
        return convert(_refined(function, texts, settings, labels, model, template, temperature, on_error, show_progress), output, kind)
    bound = bind_classify(
        settings, function, labels=labels, model=model, template=template, temperature=temperature, scores=function == "classify_scores"
    )
    return convert(_run(function, texts, bound, on_error, show_progress), output, kind)


def _refined(function: str, texts: Any, settings: Settings, labels: Sequence[str] | None, model: ModelArg, template: str | None,
             temperature: float | None, on_error: str | None, show_progress: bool | None) -> pa.Array:
    """Zero-shot labels refined over every text of the call: one prediction over the whole set (the answer for one
    text depends on the others), under the ``on_error`` policy; the bar counts the texts embedded."""
    classifier = resolve_classifier(function, settings, labels=labels, model=model, template=template, temperature=temperature,
                                    refine=True)
    array = python_texts(texts, function, on_error)
    with progress.progress_bar(None, f"{function} (embed)", progress.enabled(show_progress, False), unit="texts") as bar:
        prediction = run_rows(function, array, lambda part, _start, _stop: classifier.predict(part, bar=bar), on_error)
    return prediction.score_array() if function == "classify_scores" else prediction.label_array()


def classify(
    texts: Any,
    labels: Sequence[str] | None = None,
    model: ModelArg = None,
    *,
    embedding_model: ModelArg = None,
    template: str | None = None,
    temperature: float | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    output: Literal["list", "arrow", "polars"] = "list",
    on_error: str | None = None,
    refine: bool = False,
) -> Any:
    """The most probable label of each text.

    ``texts``: a list of ``str | None``, a pyarrow string array or a polars ``Series``. Give either
    ``labels`` (zero-shot: a non-empty list of distinct label names or descriptions, compared in
    embedding space through ``template``) or ``model`` (a trained classifier ``'name'``/``'name@k'``, or
    a Hugging Face sequence-classifier folder). ``embedding_model`` is the embedding model for zero-shot
    and trained heads (default: ``SQLML_MODEL`` or the embedded all-MiniLM-L6-v2).

    ``refine=True`` (zero-shot only): each label's vector is moved toward the texts it wins most clearly, over
    *all* the texts of this call, and the texts are classified again; the answer for one text then depends on
    the others (deterministically: the same texts give the same labels). It pays on a set of rows of one kind
    (docs/classify.md measures it; fewer than ~100 rows gain less). Its template defaults to ``'{label}'``.

    Returns ``list[str | None]`` (``output='list'``), a ``pa.StringArray`` or a polars ``Series``; NULL → NULL.
    """
    return _classify("classify", texts, labels, model, embedding_model, template, temperature, device, batch_size, show_progress,
                     output, on_error, refine)


def classify_scores(
    texts: Any,
    labels: Sequence[str] | None = None,
    model: ModelArg = None,
    *,
    embedding_model: ModelArg = None,
    template: str | None = None,
    temperature: float | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    output: Literal["list", "arrow", "polars"] = "list",
    on_error: str | None = None,
    refine: bool = False,
) -> Any:
    """Every label's probability per text, by descending probability (arguments as :func:`classify`).

    Each row is ``[{'label': str, 'score': float}, ...]`` covering every label, scores summing to 1;
    ``row[0]['label']`` equals :func:`classify`'s answer. NULL text → ``None``.
    Returns a list of rows, a ``pa.ListArray`` of ``STRUCT<label, score>`` or a polars ``Series``.
    """
    return _classify("classify_scores", texts, labels, model, embedding_model, template, temperature, device, batch_size,
                     show_progress, output, on_error, refine)


def relevance(
    texts: Any,
    query: str,
    *,
    model: ModelArg = None,
    device: str | None = None,
    batch_size: int | None = None,
    cache: bool | None = None,
    on_error: str | None = None,
) -> np.ndarray:
    """Semantic relevance of each text to ``query``: ``float32 (n,)`` cosine similarity, NaN for None.

    ``texts``: a list of ``str | None``, a pyarrow string array or a polars ``Series``.
    """
    settings = _settings("relevance", model, device=device, batch_size=batch_size, cache=cache)
    return convert(_run("relevance", texts, bind_relevance(settings, query=query), on_error, False), "numpy", "relevance")


def top_k_sentences(
    texts: Any,
    query: str,
    k: int = 3,
    *,
    mode: Mode = "semantic",
    model: ModelArg = None,
    device: str | None = None,
    batch_size: int | None = None,
    cache: bool | None = None,
    on_error: str | None = None,
) -> list[list[str] | None]:
    """The ``k`` sentences of each text most relevant to ``query``, best first (None for None).

    ``mode``: ``'semantic'`` (cosine), ``'lexical'`` (BM25 over the text's own sentences; loads no model)
    or ``'hybrid'``.
    """
    settings = _settings("top_k_sentences", model, device=device, batch_size=batch_size, cache=cache)
    bound = bind_top_k_sentences(settings, query=check_query(query, "top_k_sentences"), k=k, mode=mode)
    return convert(_run("top_k_sentences", texts, bound, on_error, False), "list", "sentences")  # type: ignore[no-any-return]


def search(
    data: Any,
    query: str,
    k: int = 10,
    *,
    mode: Mode = "hybrid",
    column: str | None = None,
    model: ModelArg = None,
    device: str | None = None,
    batch_size: int | None = None,
    cache: bool | None = None,
    on_error: str | None = None,
) -> Any:
    """The ``k`` rows of ``data`` most relevant to ``query``, best first, with ``score`` and ``rank``.

    ``data``: texts (list, pyarrow array, polars Series) → a ``pa.Table`` (row, text, score, rank),
    ``row`` being the 0-based input position; or a ``pa.Table`` / polars ``DataFrame`` with
    ``column`` naming the text column → the same type, its matching rows with every column plus
    ``score`` and ``rank``. ``mode``: ``'semantic'``, ``'lexical'`` or ``'hybrid'`` (default). Rows with
    NULL text never match; under ``on_error='null'`` a row whose text makes the model fail is treated so.
    """
    query = check_query(query, "search")
    k = check_k(k, "search")
    mode = check_mode(mode, "search")
    table, as_polars = _as_table(data, column)
    texts = python_texts(table.column(column) if table is not None else data, "search", on_error)
    settings = _settings("search", model, device=device, batch_size=batch_size, cache=cache)
    runtime, cache_used = mode_runtime(settings, mode)
    hits = run_rows("search", texts, lambda part, _s, _e: search_array(part, query, k, mode, runtime, cache_used), on_error)
    extra = {"score": pa.array(hits.scores, pa.float64()), "rank": pa.array(np.arange(1, len(hits.rows) + 1), pa.int64())}
    if table is None:
        result = pa.table({"row": pa.array(hits.rows, pa.int64()), "text": texts.take(pa.array(hits.rows, pa.int64())), **extra})
    else:
        result = table.take(pa.array(hits.rows, pa.int64()))
        for name, values in extra.items():
            result = result.append_column(name, values)
    if as_polars:
        import polars as pl

        return pl.from_arrow(result)
    return result


def _as_table(data: Any, column: str | None) -> tuple[pa.Table | None, bool]:
    """``(table, came_from_polars)`` for tabular ``data``; ``(None, False)`` for a sequence of texts."""
    is_polars_frame = type(data).__module__.startswith("polars") and type(data).__name__ == "DataFrame"
    if not (is_polars_frame or isinstance(data, pa.Table)):
        if column is not None:
            raise InvalidArgumentError("search: column is only for tables; pass the texts themselves, or a table with column=")
        return None, False
    table = data.to_arrow() if is_polars_frame else data
    if column is None or column not in table.column_names:
        raise InvalidArgumentError(
            f"search: column must name the text column of the table, got {column!r}; its columns are: {', '.join(table.column_names)}"
        )
    check_table_columns(table.column_names, "search", SEARCH_COLUMNS)
    return table, is_polars_frame


for _function in (embed, summarize, summarize_explain, classify, classify_scores, relevance, top_k_sentences, search):
    _function.__doc__ = (_function.__doc__ or "").rstrip() + "\n" + ON_ERROR_DOC
del _function
