"""The sentence splitter: real news text, glued sentences, spans verbatim, nothing dropped."""

from __future__ import annotations

import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sqlml.ops.sentences import (
    Sentence,
    _cover,
    _unglue,
    blingfire_spans,
    sentence_spans,
    split_sentences,
    split_texts,
)


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_news_text_with_abbreviations_quotes_and_decimals() -> None:
    text = 'Mr. Smith paid £1.5bn to the U.S. firm. "It\'s great," he said. Prices rose 2.5% in 2004.'
    assert texts(text) == ['Mr. Smith paid £1.5bn to the U.S. firm.', '"It\'s great," he said.', "Prices rose 2.5% in 2004."]


def test_glued_sentences_are_split() -> None:
    text = "Sales rose 2% to $11.1bn from $10.9bn.For the full-year, profit was $3.36bn.It rose 27%.BA had a loss."
    assert texts(text) == ["Sales rose 2% to $11.1bn from $10.9bn.", "For the full-year, profit was $3.36bn.", "It rose 27%.", "BA had a loss."]


def test_glued_quote_goes_with_the_sentence_it_opens() -> None:
    text = 'The deficit hit the dollar."I think it will fall," said Mr Sinche.'
    assert texts(text) == ["The deficit hit the dollar.", '"I think it will fall," said Mr Sinche.']


def test_glue_points_that_are_not_sentence_ends_stay_joined() -> None:
    assert texts("Mr.Benn spoke to J.K.Rowling about Halo.Bungie.Org today.") == ["Mr.Benn spoke to J.K.Rowling about Halo.Bungie.Org today."]
    assert texts("It bought a stake in AT&T.Buying MCI came later.") == ["It bought a stake in AT&T.", "Buying MCI came later."]


def test_a_title_that_blingfire_leaves_alone_joins_the_sentence_it_opens() -> None:
    text = 'Said chief executive Daniel Reyes. Mr. Reyes said no hubs would close. Dr. Li agreed.'
    assert [s.text for s in split_sentences(text)] == ["Said chief executive Daniel Reyes.", "Mr. Reyes said no hubs would close.",
                                                       "Dr. Li agreed."]
    batch = split_texts(["A first text.", text, "Mr."])  # the grouped path agrees; a text that is only a title stays one
    assert batch.sentences[1:4] == ["Said chief executive Daniel Reyes.", "Mr. Reyes said no hubs would close.", "Dr. Li agreed."]
    assert batch.sentences[-1] == "Mr."


def test_positions_and_spans_are_verbatim() -> None:
    text = "  First one here.\n\nSecond one,  with spaces.   Third!  "
    sentences = split_sentences(text)
    assert [s.position for s in sentences] == [0, 1, 2]
    assert all(text[s.start : s.end] == s.text for s in sentences)
    assert sentences[0] == Sentence(0, 2, 17, "First one here.")


def test_empty_and_whitespace_give_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t ") == []


def test_text_without_end_mark_is_one_sentence() -> None:
    assert texts("no punctuation at all") == ["no punctuation at all"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aB .!?\"'\n%£1.Mr")), max_size=80))
def test_no_text_is_ever_dropped(text: str) -> None:
    sentences = split_sentences(text)
    assert "".join("".join(s.text.split()) for s in sentences) == "".join(text.split())
    assert all(text[s.start : s.end] == s.text and s.text == s.text.strip() and s.text for s in sentences)
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:]))
    assert [s.position for s in sentences] == list(range(len(sentences)))


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith paid £1.5bn for U.S. assets. Revenue rose 2% to $11.1bn.For the year.  \"We are happy,\" he said. Next!",
        "Ünïcödé 東京 🙂 first. Second sentence here! Third? مرحبا بك. done",
        "Über. Ça va? Oui.\n\nÉté 🙂🙂. End",
        "One.",
        "no punctuation at all",
    ],
)
def test_fast_spans_equal_blingfire_own_offsets(text: str) -> None:
    import blingfire

    from sqlml.ops.sentences import blingfire_spans

    assert blingfire_spans(text) == [tuple(x) for x in blingfire.text_to_sentences_and_offsets(text)[1]]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('aB .!?"\u201c\u201d\'\nMr')), max_size=60))
@example(text='The dollar fell."I think so," he said.')
@example(text="Profit rose 2%.For the year it fell.")
def test_glue_search_of_the_whole_text_skips_only_texts_without_glue(text: str) -> None:
    every_span = [piece for start, end in _cover(text, blingfire_spans(text)) for piece in _unglue(text, start, end)] if text.strip() else []
    assert sentence_spans(text) == every_span



@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list('aB .!?"\u201c\u00e9\n%Mr')), max_size=40), max_size=12), st.integers(1, 60))
@example(texts=["It ends without a mark", "Next text starts here.", "", "Mr.", "Ends with a newline.\n"], group_chars=64)
def test_grouped_blingfire_calls_give_each_texts_own_sentences(texts: list[str], group_chars: int) -> None:
    batch = split_texts(texts, group_chars)  # small groups: many group edges, groups of one
    got = [batch.sentences[batch.offsets[i] : batch.offsets[i + 1]] for i in range(len(texts))]
    assert got == [[text[start:end] for start, end in sentence_spans(text)] for text in texts]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list('aB .!?"\u201c\u201d\u00e9\n\t\u00a0\u2003\x1c%Mr')), max_size=50), min_size=2, max_size=12))
@example(texts=["Glued.For real", "Plain text. Two sentences."])
@example(texts=["\u00a0Lead space. Mid\u2003space.\u3000", "x"])
def test_only_texts_that_need_the_repair_pass_skip_it(texts: list[str]) -> None:
    batch = split_texts(texts)  # one group: the numpy checks decide which texts go through _repaired
    got = [batch.sentences[batch.offsets[i] : batch.offsets[i + 1]] for i in range(len(texts))]
    assert got == [[text[start:end] for start, end in sentence_spans(text)] for text in texts]


def test_whitespace_table_is_str_isspace() -> None:
    from sqlml.ops.sentences import _ASCII_CLASS, _OTHER_SPACES, _SPACE

    listed = {c for c in range(128) if _ASCII_CLASS[c] == _SPACE} | set(_OTHER_SPACES.tolist())
    assert listed == {c for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_split_texts_is_split_sentences_of_each_text() -> None:
    texts = ["It ends without a mark", "Next text starts here. And more.", None, "", "Mr.", "Ends with a newline.\n"]
    batch = split_texts(texts)
    got = [batch.sentences[batch.offsets[i] : batch.offsets[i + 1]] for i in range(len(texts))]
    assert got == [[] if text is None else [s.text for s in split_sentences(text)] for text in texts]
