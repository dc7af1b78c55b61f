"""Each public operation bound to one call's settings and constant arguments: the one core every door uses.

``bind_summarize(settings, "summarize", n=3)`` returns a :data:`Bound` callable ``(texts, rows) -> pa.Array``:
``texts`` is a ``pa.StringArray`` (NULL rows give the operation's NULL result, row count and order are
kept) and ``rows`` holds the arguments that may differ per row (SQL's ``n``, ``query`` or ``labels``
columns), aligned with ``texts``. The SQL UDFs, the Python API, the CLI's Parquet jobs and the Ray adapter
all call these binders, so an argument is checked, a model resolved and a classifier chosen in exactly
one place. Binding validates the constant arguments and loads the model; calling runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from sqlml.config import Settings, check_model_argument
from sqlml.engine.cache import EmbeddingCache, get_cache
from sqlml.engine.runtime import AnyRuntime, runtime_for
from sqlml.errors import InvalidArgumentError
from sqlml.ops.classify.core import Classifier, resolve_classifier
from sqlml.ops.embed import embed_array
from sqlml.ops.relevance.scores import check_k, check_mode, check_query, relevance_array, top_k_sentences_array
from sqlml.ops.summarize.pipeline import check_max_words, check_n, explain_array, summarize_array

#: Per-row arguments of one call, each aligned with its texts.
RowArgs = Mapping[str, pa.Array]
#: An operation bound to its settings and constants: ``(texts, per-row arguments) -> results``.
Bound = Callable[[pa.StringArray, RowArgs], pa.Array]


def cache_for(settings: Settings, runtime: AnyRuntime) -> EmbeddingCache | None:
    """The embedding cache ``runtime``'s vectors go through, or ``None`` when caching is off for it."""
    return get_cache(settings.cache, runtime.device)


def mode_runtime(settings: Settings, mode: str, model: str | None = None) -> tuple[AnyRuntime | None, EmbeddingCache | None]:
    """The runtime and cache a relevance ``mode`` needs: none for ``'lexical'`` (BM25 loads no model)."""
    if mode == "lexical":
        return None, None
    runtime = runtime_for(settings, model)
    return runtime, cache_for(settings, runtime)


def bind_embed(settings: Settings, function: str = "embed", *, model: str | None = None) -> Bound:
    """``FixedSizeList<float32, d>`` per text, L2-normalised; NULL → NULL."""
    runtime = runtime_for(settings, check_model_argument(model, "model", function))
    cache = cache_for(settings, runtime)
    return lambda texts, _rows: embed_array(texts, runtime, cache=cache)


def _sentences_n(n: int | None, rows: RowArgs) -> int | pa.Array | None:
    """``n`` for this call: the per-row column when the call has one, else the constant (``None`` → NULL results)."""
    return rows["n"] if "n" in rows else n


def bind_summarize(
    settings: Settings, function: str = "summarize", *, model: str | None = None, n: int | None = 3, max_words: int | None = None
) -> Bound:
    """The ``n`` most representative sentences of each text (``VARCHAR``), within ``max_words`` words when given
    (the best sentence always); NULL or empty text → NULL."""
    check_n(n, function)
    check_max_words(max_words, function)
    runtime = runtime_for(settings, check_model_argument(model, "model", function))
    return lambda texts, rows: summarize_array(texts, _sentences_n(n, rows), runtime, function=function, max_words=max_words)


def bind_summarize_explain(
    settings: Settings, function: str = "summarize_explain", *, model: str | None = None, n: int | None = 3, max_words: int | None = None
) -> Bound:
    """One struct per sentence (position, sentence, cluster, cluster_size, score, selected, score parts); NULL or empty → NULL."""
    check_n(n, function)
    check_max_words(max_words, function)
    runtime = runtime_for(settings, check_model_argument(model, "model", function))
    return lambda texts, rows: explain_array(texts, _sentences_n(n, rows), runtime, function=function, max_words=max_words)


def bind_classify(
    settings: Settings,
    function: str = "classify",
    *,
    labels: Sequence[str] | None = None,
    model: str | None = None,
    embedding_model: str | None = None,
    template: str | None = None,
    temperature: float | None = None,
    scores: bool = False,
    per_row_labels: bool = False,
    refine: bool = False,
) -> Bound:
    """The most probable label (``scores=False``) or every label's probability per text; NULL → NULL.

    ``per_row_labels``: the labels come per row (``rows['labels']``, a list column as in SQL) instead of
    the constant ``labels``. ``refine``: zero-shot labels refined over the texts of each call, so the caller
    must hand the whole set of rows to one call.
    """
    classifier: Classifier = resolve_classifier(
        function, settings, labels=labels, model=model, embedding_model=embedding_model, template=template,
        temperature=temperature, per_row_labels=per_row_labels, refine=refine,
    )

    def run(texts: pa.StringArray, rows: RowArgs) -> pa.Array:
        prediction = classifier.predict(texts, rows.get("labels"))
        return prediction.score_array() if scores else prediction.label_array()

    return run


def bind_relevance(
    settings: Settings, function: str = "relevance", *, query: str | None = None, model: str | None = None, per_row_query: bool = False
) -> Bound:
    """Cosine similarity of each text to ``query`` as ``float32``; NULL text → NULL.

    ``per_row_query``: the queries come per row (``rows['query']``, SQL's column; a NULL query gives NULL)
    instead of the constant ``query``, which is then required.
    """
    constant_query = None if per_row_query else check_query(query, function)
    runtime = runtime_for(settings, check_model_argument(model, "model", function))
    cache = cache_for(settings, runtime)

    def run(texts: pa.StringArray, rows: RowArgs) -> pa.Array:
        queries = rows["query"] if "query" in rows else pa.array([constant_query] * len(texts), pa.string())
        return relevance_array(texts, queries, runtime, cache)

    return run


def bind_top_k_sentences(
    settings: Settings,
    function: str = "top_k_sentences",
    *,
    query: str | None = None,
    k: int | None = 3,
    mode: str | None = "semantic",
    model: str | None = None,
) -> Bound:
    """The ``k`` sentences of each text most relevant to ``query``, best first (``list<string>``).

    NULL text → NULL; a NULL ``query`` gives NULL for every row. Lexical mode loads no model.
    """
    if query is None:
        return lambda texts, _rows: pa.nulls(len(texts), pa.list_(pa.string()))
    checked_query = check_query(query, function)
    checked_k = check_k(k, function)
    checked_mode = check_mode(mode, function)
    runtime, cache = mode_runtime(settings, checked_mode, check_model_argument(model, "model", function))
    return lambda texts, _rows: top_k_sentences_array(texts, checked_query, checked_k, checked_mode, runtime, cache)


#: Operation name (as the CLI and Ray adapters name it) → binder.
BINDERS: dict[str, Callable[..., Bound]] = {
    "embed": bind_embed,
    "summarize": bind_summarize,
    "summarize_explain": bind_summarize_explain,
    "classify": bind_classify,
    "classify_scores": lambda settings, function="classify_scores", **options: bind_classify(settings, function, scores=True, **options),
    "relevance": bind_relevance,
    "top_k_sentences": bind_top_k_sentences,
}


def check_operation(name: str) -> None:
    """Raise :class:`InvalidArgumentError` unless ``name`` is an operation of :data:`BINDERS`."""
    if name not in BINDERS:
        raise InvalidArgumentError(f"unknown operation {name!r}; use one of {', '.join(sorted(BINDERS))}")


def check_arguments(name: str, options: Mapping[str, Any]) -> None:
    """:func:`check_operation`, and the summary length arguments (``n``, ``max_words``) its binder would refuse,
    without loading a model: a job refuses them before its first batch (inside a Ray actor the message would be lost)."""
    check_operation(name)
    if name in ("summarize", "summarize_explain"):
        check_n(options.get("n", 3), name)
        check_max_words(options.get("max_words"), name)


def bind(name: str, settings: Settings, **options: Any) -> Bound:
    """The binder of operation ``name`` applied to ``options``; an unknown name is an argument error."""
    check_operation(name)
    return BINDERS[name](settings, name, **options)
