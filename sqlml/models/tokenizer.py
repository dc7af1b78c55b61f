"""Texts → token ids (with special tokens, truncated at the model window) as a :class:`TokenBatch`.

Thread-safe: DuckDB's threads tokenize their own chunks at the same time. Two tokenizers give the same ids:

* the model's own Rust tokenizer (``tokenizers``), for every model and every text;
* for BERT-uncased WordPiece models with BERT's vocabulary (all-MiniLM-L6-v2, bert-base-uncased and
  models fine-tuned from them), blingfire's compiled ``bert_base_tok`` automaton, for plain-ASCII texts.
  It is ~5× faster per text (11 vs 61 µs per W1 sentence on one core, benchmarks/NOTES.md), writes the
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
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from sqlml import config
from sqlml.models.tokens import TokenBatch

if TYPE_CHECKING:
    import tokenizers

#: Characters kept per token of the window before a long text is cut (tokens average ~4-5 chars).
PREFIX_CHARS_PER_TOKEN = 32
#: Texts per piece when a large call is spread over threads.
PARALLEL_ROWS = 2048


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
        """Ids of every text, in order. ``texts`` must not contain ``None``.

        A call on more than ``2 × PARALLEL_ROWS`` texts is cut into pieces tokenized by a shared thread
        pool (the model tokenizer's ``encode_batch`` spreads over cores on its own; blingfire does not).
        """
        if self.fast is None:
            return self._hf(texts)
        if len(texts) > 2 * PARALLEL_ROWS:
            pieces = [texts[i : i + PARALLEL_ROWS] for i in range(0, len(texts), PARALLEL_ROWS)]
            return TokenBatch.concat(list(_pool().map(self._mixed, pieces)))
        return self._mixed(texts)

    def _mixed(self, texts: list[str]) -> TokenBatch:
        """The fast path for the texts it accepts, the model tokenizer for the rest, in order."""
        assert self.fast is not None
        accepts = self.fast.accepts
        slow = [i for i, text in enumerate(texts) if not accepts(text)]
        if not slow:
            return self.fast.encode(texts)
        slow_set = set(slow)
        quick = [i for i in range(len(texts)) if i not in slow_set]
        both = TokenBatch.concat([self.fast.encode([texts[i] for i in quick]), self._hf([texts[i] for i in slow])])
        return both.take(np.argsort(np.asarray(quick + slow, dtype=np.int64), kind="stable"))

    def _hf(self, texts: list[str]) -> TokenBatch:
        """The model's own tokenizer. A text far longer than the window is tokenized from a prefix cut
        at whitespace (whole words, so the kept tokens are the same); if that prefix did not fill the
        window, the whole text is tokenized. This keeps a 5 MB text from costing seconds for 256 tokens."""
        limit = self.max_len * PREFIX_CHARS_PER_TOKEN
        prefixes = [word_prefix(t, limit) for t in texts]
        encodings = self.hf.encode_batch(prefixes, add_special_tokens=True)
        redo = [i for i, (p, t, e) in enumerate(zip(prefixes, texts, encodings, strict=True)) if p is not t and not e.overflowing]
        for i, enc in zip(redo, self.hf.encode_batch([texts[i] for i in redo], add_special_tokens=True), strict=True):
            encodings[i] = enc
        return TokenBatch.from_lists([enc.ids for enc in encodings])


def word_prefix(text: str, limit: int) -> str:
    """``text`` itself when short; else its first ``limit`` characters, cut back to the last whitespace."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
    return text if cut <= 0 else text[:cut]


class BlingfireWordPiece:
    """blingfire's BERT-uncased tokenizer for the texts :meth:`accepts` (see the module docstring)."""

    MODEL_FILE = "bert_base_tok.bin"

    def __init__(self, handle: int, text_to_ids: Any, cls_id: int, sep_id: int, unk_id: int, max_len: int, unsafe: re.Pattern[str]) -> None:
        self._handle = handle
        self._text_to_ids = text_to_ids
        self.cls_id, self.sep_id, self.unk_id = cls_id, sep_id, unk_id
        self.max_len = max_len
        self._unsafe = unsafe

    @classmethod
    def matching(cls, hf: tokenizers.Tokenizer, max_len: int) -> BlingfireWordPiece | None:
        """A fast tokenizer giving ``hf``'s ids, or ``None`` when ``hf`` is not BERT-uncased with BERT's
        vocabulary (checked on the whole vocabulary) or blingfire's model file is missing."""
        spec = json.loads(hf.to_str())
        special = _bert_uncased_specials(hf, spec)
        handle_and_fn = _load_blingfire()
        if special is None or handle_and_fn is None:
            return None
        words = spec["model"]["max_input_chars_per_word"]
        added = "|".join(re.escape(t["content"]) for t in spec.get("added_tokens", []))
        unsafe = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[A-Za-z0-9]{%d,}" % (words + 1) + (f"|{added}" if added else ""), re.IGNORECASE)
        fast = cls(*handle_and_fn, *special, max_len, unsafe)
        return fast if fast._agrees_on_vocabulary(hf, spec["model"]["vocab"]) else None

    def accepts(self, text: str) -> bool:
        """Whether ``text`` may go the fast way (its ids are then the model tokenizer's)."""
        return text.isascii() and self._unsafe.search(text) is None

    def encode(self, texts: list[str]) -> TokenBatch:
        """Ids with ``[CLS]``/``[SEP]``, truncated to ``max_len``; every text must be :meth:`accepts`-ed."""
        room = self.max_len - 2
        buffer = np.zeros((len(texts), self.max_len), dtype=np.int32)
        buffer[:, 0] = self.cls_id
        lengths = np.empty(len(texts), dtype=np.int64)
        address, stride = buffer.ctypes.data + 4, self.max_len * 4  # row i's ids start after its [CLS]
        limit = self.max_len * PREFIX_CHARS_PER_TOKEN
        for i, text in enumerate(texts):
            prefix = word_prefix(text, limit)
            count = self._ids_into(prefix, address + i * stride, room)
            if count < room and prefix is not text:  # the prefix did not fill the window: read it all
                count = self._ids_into(text, address + i * stride, room)
            lengths[i] = min(count, room)
        buffer[np.arange(len(texts)), lengths + 1] = self.sep_id
        return TokenBatch.from_padded(buffer, lengths + 2)

    def _ids_into(self, text: str, address: int, room: int) -> int:
        data = text.encode("ascii")
        count = int(self._text_to_ids(self._handle, data, len(data), address, room, self.unk_id))
        if count < 0:
            from sqlml.errors import SqlmlError

            raise SqlmlError(f"blingfire could not tokenize a text of {len(data)} bytes; set SQLML_FAST_TOKENIZER=0")
        return count

    def _agrees_on_vocabulary(self, hf: tokenizers.Tokenizer, vocab: dict[str, int]) -> bool:
        """Every ASCII vocabulary entry as a word, and each joined to the next one (exercising ``##``
        pieces), tokenized both ways (~0.1 s, once per model)."""
        import tokenizers

        whole = tokenizers.Tokenizer.from_str(hf.to_str())
        whole.no_truncation()
        words = [w.removeprefix("##") for w in sorted(vocab, key=vocab.__getitem__)]
        words = [w for w in words if w and self.accepts(w)]
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


_shared_pool: ThreadPoolExecutor | None = None
_blingfire: tuple[int, Any] | None = None
_blingfire_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process-wide tokenizing threads (one per core; created on first use)."""
    global _shared_pool
    with _blingfire_lock:
        if _shared_pool is None:
            _shared_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="sqlml-tokenize")
        return _shared_pool


def _load_blingfire() -> tuple[int, Any] | None:
    """blingfire's BERT-uncased model handle and its ``TextToIds`` C function, loaded once per process."""
    global _blingfire
    with _blingfire_lock:
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
