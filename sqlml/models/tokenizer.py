"""Texts → token ids (with special tokens, truncated at the model window) as a :class:`TokenBatch`.

Thread-safe: DuckDB's threads tokenize their own chunks at the same time; a call runs in its caller's
thread (the engine spreads one large call over threads: ``engine/tokenize.py``). Two tokenizers give the
same ids:

* the model's own Rust tokenizer (``tokenizers``), for every model and every text;
* for BERT-uncased WordPiece models with BERT's vocabulary (all-MiniLM-L6-v2, bert-base-uncased and
  models fine-tuned from them), blingfire's compiled ``bert_base_tok`` automaton, for plain-ASCII texts.
  It is ~5× faster per text than the Hugging Face tokenizer on short sentences, writes the
  ids straight into a numpy buffer and releases the GIL while it works.

The fast path is taken only where the ids are proven equal: the model's tokenizer must be configured as
BERT-uncased and must agree with blingfire on its whole vocabulary when the tokenizer is built; a text
goes the fast way only when it is ASCII without control characters, without a word longer than
WordPiece's ``max_input_chars_per_word`` (the model gives ``[UNK]`` for those) and without the text of a
special token such as ``[SEP]``. ``SQLML_FAST_TOKENIZER=0`` turns the fast path off.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.models.tokens import TokenBatch, gather_index, offsets_of

if TYPE_CHECKING:
    import tokenizers

#: Characters kept per token of the window before a long text is cut (tokens average ~4-5 chars).
PREFIX_CHARS_PER_TOKEN = 32
#: Joins texts for one blingfire call: a private-use character, which it reads as one unknown token ...
SEPARATOR = " \ue000 "
#: ... written as this id, which no real token has.
_CUT = -1
#: ASCII bytes the model tokenizer drops or treats apart (control characters but tab, newline, return; DEL).
_CONTROL = np.zeros(256, dtype=bool)
_CONTROL[[*range(0, 9), 11, 12, *range(14, 32), 127]] = True
#: ASCII letters and digits: the characters of one WordPiece word (every other printable byte splits).
_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[*range(48, 58), *range(65, 91), *range(97, 123)]] = True


class TextTokenizer:
    """Tokenize texts for one model: ``tokenizer(texts)`` → :class:`TokenBatch`; thread-safe."""

    def __init__(self, hf: tokenizers.Tokenizer, max_len: int, fast: bool | None = None) -> None:
        """``hf``: the model's Rust tokenizer (a private copy is configured here); ``max_len``: the
        window in tokens, special tokens included. ``fast``: allow the blingfire path (default:
        ``SQLML_FAST_TOKENIZER``, on)."""
        import tokenizers

        self.max_len = max_len
        self.hf = tokenizers.Tokenizer.from_str(hf.to_str())
        self.hf.no_padding()
        self.hf.enable_truncation(max_len)
        allowed = config.resolve("fast_tokenizer", fast, True, config.parse_bool)
        self.fast = BlingfireWordPiece.matching(self.hf, max_len) if allowed else None

    def __call__(self, texts: list[str]) -> TokenBatch:
        """Ids of every text, in order, in the calling thread. ``texts`` must not contain ``None``.

        A text far longer than the window is tokenized from a prefix cut at whitespace (whole words,
        so the kept tokens are the same); if that prefix did not fill the window, the whole text is
        tokenized. This keeps a 5 MB text from costing seconds for 256 tokens.
        """
        limit = self.max_len * PREFIX_CHARS_PER_TOKEN
        if max(map(len, texts), default=0) <= limit:  # the common case, without a Python-level loop
            return self._either_way(texts)
        prefixes = [t if len(t) <= limit else word_prefix(t, limit) for t in texts]
        batch = self._either_way(prefixes)
        lengths = batch.lengths
        redo = [i for i, (p, t) in enumerate(zip(prefixes, texts, strict=True)) if p is not t and lengths[i] < self.max_len]
        if not redo:
            return batch
        keep = np.setdiff1d(np.arange(len(texts)), redo)
        return TokenBatch.in_order([(keep, batch.take(keep)), (redo, self._either_way([texts[i] for i in redo]))])

    @property
    def spreads_over_cores(self) -> bool:
        """True when one call already runs on several cores: without the fast path every text goes to the
        model tokenizer, whose ``encode_batch`` spreads over cores on its own. With it, a call runs in
        the calling thread (blingfire releases the GIL but works on one core), so a caller with many
        texts gains from cutting them into pieces for other threads."""
        return self.fast is None

    def _either_way(self, texts: list[str]) -> TokenBatch:
        """The fast path for the texts it may take, the model tokenizer for the rest, in order."""
        if self.fast is None:
            return self._hf(texts)
        slow = self.fast.rejected(texts)
        if not slow:
            return self._fast_or_hf(texts)
        quick = np.setdiff1d(np.arange(len(texts)), slow)
        return TokenBatch.in_order([(quick, self._fast_or_hf([texts[i] for i in quick])), (slow, self._hf([texts[i] for i in slow]))])

    def _fast_or_hf(self, texts: list[str]) -> TokenBatch:
        assert self.fast is not None
        batch = self.fast.encode(texts) if texts else None
        return batch if batch is not None else self._hf(texts)

    def _hf(self, texts: list[str]) -> TokenBatch:
        """The model's own tokenizer."""
        return TokenBatch.from_lists([enc.ids for enc in self.hf.encode_batch(texts, add_special_tokens=True)])


def word_prefix(text: str, limit: int) -> str:
    """``text`` itself when short; else its first ``limit`` characters, cut back to the last whitespace."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
    return text if cut <= 0 else text[:cut]


class BlingfireWordPiece:
    """blingfire's BERT-uncased tokenizer for the texts :meth:`rejected` does not name (see the module docstring)."""

    MODEL_FILE = "bert_base_tok.bin"

    def __init__(self, handle: int, text_to_ids: Any, cls_id: int, sep_id: int, unk_id: int, max_len: int, max_word_chars: int, added: list[str]) -> None:
        """``max_word_chars``: WordPiece's ``max_input_chars_per_word``; ``added``: the special tokens'
        texts, which the model tokenizer matches whole (a text containing one goes the slow way)."""
        self._handle = handle
        self._text_to_ids = text_to_ids
        self.cls_id, self.sep_id, self.unk_id = cls_id, sep_id, unk_id
        self.max_len = max_len
        self._max_word_chars = max_word_chars
        self._added = re.compile("|".join(map(re.escape, added)), re.IGNORECASE) if added else None
        self._added_first = np.zeros(256, dtype=bool)  # bytes that may begin a special token's text
        for first in {t[0] for t in added if t}:
            for variant in {first.lower(), first.upper()} & {chr(i) for i in range(128)}:
                self._added_first[ord(variant)] = True

    @classmethod
    def matching(cls, hf: tokenizers.Tokenizer, max_len: int) -> BlingfireWordPiece | None:
        """A fast tokenizer giving ``hf``'s ids, or ``None`` when ``hf`` is not BERT-uncased with BERT's
        vocabulary (checked on the whole vocabulary) or blingfire's model file is missing."""
        spec = json.loads(hf.to_str())
        special = _bert_uncased_specials(hf, spec)
        handle_and_fn = _load_blingfire()
        if special is None or handle_and_fn is None:
            return None
        added = [t["content"] for t in spec.get("added_tokens", [])]
        fast = cls(*handle_and_fn, *special, max_len, int(spec["model"]["max_input_chars_per_word"]), added)
        return fast if fast._agrees_on_vocabulary(hf, spec["model"]["vocab"]) else None

    def rejected(self, texts: list[str]) -> list[int]:
        """Positions of the texts that may not go the fast way, found for all texts at once with numpy
        over their ASCII bytes joined by newlines (~1 µs per sentence; a regular expression took 10)."""
        bad = [] if all(map(str.isascii, texts)) else [i for i, text in enumerate(texts) if not text.isascii()]
        rows = np.setdiff1d(np.arange(len(texts)), bad)
        ascii_texts = [texts[i] for i in rows] if bad else texts
        joined = np.frombuffer("\n".join(ascii_texts).encode("ascii"), dtype=np.uint8)
        starts = offsets_of(np.fromiter(map(len, ascii_texts), dtype=np.int64, count=len(rows)) + 1)[:-1]
        non_word = np.flatnonzero(~_ALNUM[joined])
        edges = np.concatenate([[-1], non_word, [len(joined)]])
        long_words = edges[:-1][np.diff(edges) - 1 > self._max_word_chars] + 1
        hits = np.concatenate([np.flatnonzero(_CONTROL[joined]), long_words])
        flagged = set(rows[np.searchsorted(starts, hits, side="right") - 1].tolist())
        if self._added is not None:
            marked = np.flatnonzero(self._added_first[joined])
            for i in set(rows[np.searchsorted(starts, marked, side="right") - 1].tolist()) - flagged:
                if self._added.search(texts[i]):
                    flagged.add(i)
        return sorted(flagged.union(bad))

    def encode(self, texts: list[str]) -> TokenBatch | None:
        """Ids with ``[CLS]``/``[SEP]``, truncated to ``max_len``; no text may be one :meth:`rejected` names.

        All texts go to blingfire in one call (the GIL is released for all of it), joined by a
        separator that it reads as one unknown token; the ids are then cut at those tokens with numpy.
        ``None`` when the cut does not give one piece per text (an accepted text produced an unknown
        token itself): the caller then uses the model tokenizer.
        """
        data = SEPARATOR.join(texts).encode("utf-8")
        ids = np.empty(len(data) + 1, dtype=np.int32)  # every token covers at least one byte
        count = int(self._text_to_ids(self._handle, data, len(data), ids.ctypes.data, len(ids), _CUT))
        if count < 0:
            from sqlml.errors import SqlmlError

            raise SqlmlError(f"blingfire could not tokenize {len(texts)} texts ({len(data)} bytes); set SQLML_FAST_TOKENIZER=0")
        ids = ids[:count]
        cuts = np.flatnonzero(ids == _CUT)
        if len(cuts) != len(texts) - 1:
            return None
        starts = np.concatenate([[0], cuts + 1])
        kept = np.minimum(np.concatenate([cuts, [count]]) - starts, self.max_len - 2)
        offsets = offsets_of(kept + 2)
        out = np.empty(int(offsets[-1]), dtype=np.int32)
        out[offsets[:-1]] = self.cls_id
        out[offsets[1:] - 1] = self.sep_id
        out[gather_index(offsets[:-1] + 1, kept)] = ids[gather_index(starts, kept)]
        return TokenBatch(out, offsets)

    def _agrees_on_vocabulary(self, hf: tokenizers.Tokenizer, vocab: dict[str, int]) -> bool:
        """Every ASCII vocabulary entry as a word, and each joined to the next one (exercising ``##``
        pieces), tokenized both ways (~0.1 s, once per model)."""
        import tokenizers

        whole = tokenizers.Tokenizer.from_str(hf.to_str())
        whole.no_truncation()
        words = [w.removeprefix("##") for w in sorted(vocab, key=vocab.__getitem__)]
        unsafe = set(self.rejected(words))
        words = [w for i, w in enumerate(words) if w and i not in unsafe]
        for probe in (" ".join(words), " ".join(a + b for a, b in zip(words[::2], words[1::2], strict=False))):
            wanted = whole.encode(probe, add_special_tokens=False).ids
            got = np.zeros(len(wanted) + 1, dtype=np.int32)
            count = self._text_to_ids(self._handle, probe.encode("ascii"), len(probe), got.ctypes.data, len(got), self.unk_id)
            if count != len(wanted) or got[:count].tolist() != wanted:
                return False
        return True


def _bert_uncased_specials(hf: tokenizers.Tokenizer, spec: dict[str, Any]) -> tuple[int, int, int] | None:
    """``([CLS], [SEP], [UNK])`` ids when ``spec`` is a lowercasing BERT WordPiece tokenizer that wraps
    each text as ``[CLS] text [SEP]``; else ``None``."""
    model, normalizer = spec.get("model") or {}, spec.get("normalizer") or {}
    bert = (
        model.get("type") == "WordPiece"
        and model.get("continuing_subword_prefix") == "##"
        and normalizer.get("type") == "BertNormalizer"
        and normalizer.get("lowercase") is True
        and normalizer.get("clean_text") is True
        and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and model.get("unk_token") in model.get("vocab", {})
    )
    if not bert:
        return None
    empty = hf.encode("", add_special_tokens=True).ids
    plain = hf.encode("hello world", add_special_tokens=False).ids
    if len(empty) != 2 or hf.encode("hello world", add_special_tokens=True).ids != [empty[0], *plain, empty[1]]:
        return None
    return empty[0], empty[1], model["vocab"][model["unk_token"]]


_blingfire: tuple[int, Any] | None = None
_lock = threading.Lock()


def _load_blingfire() -> tuple[int, Any] | None:
    """blingfire's BERT-uncased model handle and its ``TextToIds`` C function, loaded once per process."""
    global _blingfire
    with _lock:
        if _blingfire is None:
            try:
                import blingfire
            except ImportError:
                return None
            path = os.path.join(os.path.dirname(blingfire.__file__), BlingfireWordPiece.MODEL_FILE)
            if not os.path.exists(path):
                return None
            # int TextToIds(void* model, const char* utf8, int bytes, int32_t* ids, int max_ids, int unk_id);
            # a CFUNCTYPE call releases the GIL while the C code runs.
            prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)
            _blingfire = (blingfire.load_model(path), prototype(("TextToIds", blingfire.blingfire)))
        return _blingfire
