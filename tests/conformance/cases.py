"""The cases every front door runs, as plain data: texts, arguments, and the calls built from them.

A :class:`Call` is one function applied to one list of texts with SQL-named arguments (``n``, ``k``,
``labels``, ``query``, ``mode``, ``model``, ``embedding_model``, ``on_error``); tests take their calls
as parameters.

The Ray door runs the calls of the selected Ray tests up front (it reads them from the tests' parameters),
in a few background jobs instead of one actor start per test.

The model is never named here: every door runs on its default model, which the suite sets to the tiny
random model through ``SQLML_MODEL`` (the way a user configures one). ``POISONED`` stands for the
poisoned copy of it (see ``conftest.py``) and is replaced by its path by each door.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Stands for the poisoned model's path in a call's arguments (the path is only known at run time).
POISONED = "<poisoned model>"
#: The poisoned model's vocabulary ends at id 30000; this character tokenizes to id 30521 ('##～').
POISON = "a～"

LABELS = ("business", "sport", "politics")
QUERY = "interest rates"

ARTICLE = (
    "The central bank raised interest rates again. Markets fell sharply after the announcement. "
    "Analysts expect further hikes this year. Football fans celebrated a late winning goal. "
    "Interest rates shape mortgage costs for every household."
)
LONG = " ".join(f"Sentence number {i} talks about interest rates, markets and the weather." for i in range(40))  # > 256 tokens

UNICODE = {
    "accents": "Le café était très bon. Les élèves ont réussi l'examen à Zürich. Ça coûte cher, señor.",
    "cjk": "東京は日本の首都です。今日はとても良い天気です。中央銀行が金利を引き上げた。",
    "emoji": "Markets rallied today 🚀📈. Fans cheered the late goal ⚽🎉! Rates stay high 💸.",
    "rtl": "שלום עולם. הבנק המרכזי העלה את הריבית. مرحبا بالعالم، هذا نص عربي.",
    "combining": "Zoe\u0308 visited Ko\u0308ln in Ｆｕｌｌｗｉｄｔｈ style. Ελληνικά κείμενα επίσης. Ünïcödé wins.",
}

#: ~20 rows mixing NULLs, empty and whitespace-only text, unicode, duplicates and a text past the model window.
MIXED: tuple[str | None, ...] = (
    ARTICLE,
    None,
    "",
    "Short one.",
    "   ",
    UNICODE["accents"],
    None,
    UNICODE["cjk"],
    "Interest rates rose. Rates fell. Rates rose again.",
    UNICODE["emoji"],
    "Sport results: the home team won 3-1. The coach praised the defence.",
    None,
    UNICODE["rtl"],
    ARTICLE,
    "\t\n",
    "One sentence without a full stop",
    LONG,
    "Politics: the election campaign began. Voters queued early at the polls.",
    None,
    "Business news. Profits rose 5% in the quarter. Shares climbed.",
)

#: Text lists run through every value variant.
TEXTS: dict[str, tuple[str | None, ...]] = {
    "null": (None, ARTICLE, None),
    "all-null": (None, None),
    "blank": ("", "   ", "\t\n"),  # a batch without a single sentence
    "unicode": tuple(UNICODE.values()),
    "mixed": MIXED,
    "mixed-reversed": tuple(reversed(MIXED)),
}

#: (variant id, function, arguments): the row functions with the arguments their value cases use.
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("embed", "embed", {}),
    ("embed_list", "embed_list", {}),
    ("summarize", "summarize", {}),  # n's default (3): explicit n is passed by the other summarize cases
    ("summarize_explain", "summarize_explain", {"n": 2}),
    ("classify", "classify", {"labels": LABELS}),
    ("classify_scores", "classify_scores", {"labels": LABELS}),
    ("relevance", "relevance", {"query": QUERY}),
    ("top_k_sentences", "top_k_sentences", {"query": QUERY}),  # k and mode defaults (3, 'semantic')
    ("top_k_sentences-lexical", "top_k_sentences", {"query": QUERY, "k": 2, "mode": "lexical"}),
    ("top_k_sentences-hybrid", "top_k_sentences", {"query": QUERY, "k": 2, "mode": "hybrid"}),
]


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Call:
    """One public function on one list of texts; ``args`` are SQL-named (``n``, ``labels``, ``on_error``...).

    ``fails``: the call is expected to raise (the Ray door then runs it on its own, not merged with others).
    """

    function: str
    texts: tuple[str | None, ...]
    args: tuple[tuple[str, Any], ...] = ()
    fails: bool = False
    #: a short name for test ids and messages
    label: str = field(default="", compare=False)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)


def call(function: str, texts: tuple[str | None, ...], *, fails: bool = False, label: str = "", **args: Any) -> Call:
    return Call(function, tuple(texts), tuple(sorted((k, _freeze(v)) for k, v in args.items())), fails, label or function)


def value_call(variant: str, texts: str) -> Call:
    """The call of value variant ``variant`` (see :data:`VARIANTS`) on text list ``texts`` (see :data:`TEXTS`)."""
    _, function, args = next(v for v in VARIANTS if v[0] == variant)
    return call(function, TEXTS[texts], label=f"{variant}/{texts}", **args)


# -- argument errors ---------------------------------------------------------------------------------
ONE_TEXT = ("A text about sport. Another sentence.",)
UNKNOWN = "no-such-model"
#: function -> its arguments when an argument error case does not set them
BASE_ARGS: dict[str, dict[str, Any]] = {
    "embed": {},
    "embed_list": {},
    "summarize": {"n": 2},
    "summarize_explain": {"n": 2},
    "classify": {"labels": LABELS},
    "classify_scores": {"labels": LABELS},
    "relevance": {"query": QUERY},
    "top_k_sentences": {"query": QUERY, "k": 2},
    "sqlml_search": {"query": QUERY, "k": 2},
}
ON_ERROR_FUNCTIONS = list(BASE_ARGS)

#: (case id, function, arguments changed from BASE_ARGS, a phrase the SQL message must contain)
ERROR_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("n-zero", "summarize", {"n": 0}, "n must be a positive number of sentences, got 0"),
    ("n-zero", "summarize_explain", {"n": 0}, "n must be a positive number of sentences, got 0"),
    ("max-words-zero", "summarize", {"max_words": 0}, "max_words must be a positive number of words, got 0"),
    ("max-words-zero", "summarize_explain", {"max_words": 0}, "max_words must be a positive number of words, got 0"),
    ("k-zero", "top_k_sentences", {"k": 0}, "k must be a whole number >= 1, got 0"),
    ("k-zero", "sqlml_search", {"k": 0}, "k must be a whole number >= 1, got 0"),
    ("no-labels", "classify", {"labels": []}, "labels must be a non-empty list"),
    ("no-labels", "classify_scores", {"labels": []}, "labels must be a non-empty list"),
    ("blank-label", "classify", {"labels": ["sport", " "]}, "labels must not be empty or blank"),
    ("blank-label", "classify_scores", {"labels": ["sport", " "]}, "labels must not be empty or blank"),
    ("empty-label", "classify", {"labels": ["", "sport"]}, "labels must not be empty or blank"),
    ("duplicate-labels", "classify", {"labels": ["sport", "politics", "sport"]}, "labels must be distinct"),
    ("duplicate-labels", "classify_scores", {"labels": ["sport", "politics", "sport"]}, "labels must be distinct"),
    ("unknown-mode", "top_k_sentences", {"mode": "fuzzy"}, "mode must be 'semantic', 'lexical' or 'hybrid', not 'fuzzy'"),
    ("unknown-mode", "sqlml_search", {"mode": "fuzzy"}, "mode must be 'semantic', 'lexical' or 'hybrid', not 'fuzzy'"),
    ("empty-query", "relevance", {"query": ""}, "query is empty"),
    ("empty-query", "top_k_sentences", {"query": ""}, "query is empty"),
    ("empty-query", "sqlml_search", {"query": ""}, "query is empty"),
    ("blank-query", "relevance", {"query": "   "}, "query is empty"),
    *[("unknown-model", f, {"model": UNKNOWN}, f"model '{UNKNOWN}' not found")
      for f in ("embed", "embed_list", "summarize", "summarize_explain", "relevance", "top_k_sentences", "sqlml_search")],
    ("unknown-classifier", "classify", {"labels": None, "model": UNKNOWN}, f"classifier '{UNKNOWN}' not found"),
    ("unknown-classifier", "classify_scores", {"labels": None, "model": UNKNOWN}, f"classifier '{UNKNOWN}' not found"),
    ("unknown-embedding-model", "classify", {"embedding_model": UNKNOWN}, f"model '{UNKNOWN}' not found"),
    ("labels-and-model", "classify", {"model": "topics"}, "labels"),
    *[("on-error-maybe", f, {"on_error": "maybe"}, "on_error must be 'raise' or 'null', not 'maybe'") for f in ON_ERROR_FUNCTIONS],
]


def error_call(case: str, function: str, changes: dict[str, Any]) -> Call:
    args = {**BASE_ARGS[function], **changes}
    return call(function, ONE_TEXT, fails=True, label=f"{case}/{function}", **{k: v for k, v in args.items() if v is not None})


# -- rows that make the model fail -----------------------------------------------------------------
#: Row 2 of 4 holds the poison; row 3 is NULL.
POISONED_TEXTS = ("Fine text about sport. A second sentence.", f"Bad row {POISON} here. Other part.", None, "More fine text on politics.")
#: The same rows with the poisoned row set to NULL: what on_error := 'null' must equal.
CLEANED_TEXTS = (POISONED_TEXTS[0], None, None, POISONED_TEXTS[3])
POISON_FUNCTIONS: dict[str, dict[str, Any]] = {
    "embed": {"model": POISONED},
    "embed_list": {"model": POISONED},
    "summarize": {"n": 1, "model": POISONED},
    "summarize_explain": {"n": 1, "model": POISONED},
    "classify": {"labels": LABELS, "embedding_model": POISONED},
    "classify_scores": {"labels": LABELS, "embedding_model": POISONED},
    "relevance": {"query": QUERY, "model": POISONED},
    "top_k_sentences": {"query": QUERY, "k": 1, "model": POISONED},
    "sqlml_search": {"query": "sport", "k": 4, "mode": "semantic", "model": POISONED},
}


def poison_call(function: str, on_error: str | None, texts: tuple[str | None, ...] = POISONED_TEXTS) -> Call:
    args = dict(POISON_FUNCTIONS[function])
    if on_error is not None:
        args["on_error"] = on_error
    fails = on_error is None and texts == POISONED_TEXTS
    return call(function, texts, fails=fails, label=f"poison-{on_error or 'default'}/{function}", **args)


# -- search, training, trained heads -----------------------------------------------------------------
CORPUS = MIXED
SEARCH_VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"query": QUERY},
    "semantic": {"query": QUERY, "k": 5, "mode": "semantic"},
    "lexical": {"query": QUERY, "k": 5, "mode": "lexical"},
    "hybrid": {"query": QUERY, "k": 5, "mode": "hybrid"},
    "k-past-rows": {"query": "election campaign", "k": 50, "mode": "hybrid"},
    "unicode-query": {"query": "金利 café 🚀", "k": 3, "mode": "hybrid"},
}
SEARCH_CALLS = {name: call("sqlml_search", CORPUS, label=f"search/{name}", **args) for name, args in SEARCH_VARIANTS.items()}

TRAIN_TEXTS = tuple(
    [f"The match ended {i}-{i + 1} after a late goal by the striker." for i in range(8)]
    + [f"Parliament voted on bill number {i} after a long election debate." for i in range(8)]
    + [f"Quarterly profits rose {i} percent and shares of the company climbed." for i in range(8)]
    + [None, "A row without a label."]
)
TRAIN_LABELS = tuple(["sport"] * 8 + ["politics"] * 8 + ["business"] * 8 + ["sport", None])
HEAD = "topics"
TRAIN_CALL = call("sqlml_train", TRAIN_TEXTS, name=HEAD, labels=TRAIN_LABELS, label="train")
TRAIN_ERROR_CASES: list[tuple[str, Call, str]] = [
    ("one-label", call("sqlml_train", TRAIN_TEXTS[:4], name=HEAD, labels=("sport",) * 4, fails=True, label="train/one-label"), "2 distinct labels"),
    ("bad-name", call("sqlml_train", TRAIN_TEXTS, name="../escape", labels=TRAIN_LABELS, fails=True, label="train/bad-name"), "name"),
    ("unknown-embedding-model", call("sqlml_train", TRAIN_TEXTS, name=HEAD, labels=TRAIN_LABELS, embedding_model=UNKNOWN, fails=True,
                                     label="train/unknown-embedding-model"), f"model '{UNKNOWN}' not found"),
    ("unknown-features", call("sqlml_train", TRAIN_TEXTS, name=HEAD, labels=TRAIN_LABELS, features="words", fails=True,
                              label="train/unknown-features"), "features must be one of 'embedding', 'embedding+words'"),
]
#: classify with the head trained from TRAIN_CALL (the Ray door's head is trained before its jobs start)
HEAD_CALLS = {
    "classify": call("classify", MIXED, model=HEAD, label="head/classify"),
    "classify_scores": call("classify_scores", MIXED, model=f"{HEAD}@1", label="head/classify_scores@1"),
}
