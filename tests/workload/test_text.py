from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.workload import TextSynthesizer
from slokit.workload.seeding import Stream
from slokit.workload.text import SYNONYMS, VOCABULARY


def test_a_text_has_one_word_per_planned_token_and_is_deterministic() -> None:
    text = TextSynthesizer(1).words(Stream.BODY_TEXT, 7, 300)
    assert len(text.split(" ")) == 300
    assert text == TextSynthesizer(1).words(Stream.BODY_TEXT, 7, 300)
    assert text != TextSynthesizer(2).words(Stream.BODY_TEXT, 7, 300)
    assert text != TextSynthesizer(1).words(Stream.BODY_TEXT, 8, 300)
    assert TextSynthesizer(1).words(Stream.BODY_TEXT, 7, 0) == ""


def test_every_vocabulary_word_is_plain_and_has_a_synonym() -> None:
    assert len(VOCABULARY) > 300
    for word in VOCABULARY:
        assert word.isalpha()
        assert word.islower()
        assert SYNONYMS[word]
        assert word not in SYNONYMS[word]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 1000), key=st.integers(0, 10_000), tokens=st.integers(1, 60))
def test_a_paraphrase_differs_but_keeps_the_length(seed: int, key: int, tokens: int) -> None:
    synthesizer = TextSynthesizer(seed)
    text = synthesizer.words(Stream.BODY_TEXT, key, tokens)
    reworded = synthesizer.paraphrase(text, key)
    assert reworded != text
    assert len(reworded.split(" ")) == tokens
    assert reworded == synthesizer.paraphrase(text, key)


def test_a_paraphrase_of_foreign_words_is_the_text_itself() -> None:
    assert TextSynthesizer(0).paraphrase("zzz qqq", 1) == "zzz qqq"


def test_a_paraphrase_whose_edits_cancel_out_still_differs() -> None:
    synthesizer = TextSynthesizer(0)
    # Keys 29 and 188 of seed 0 swap both words for each other and then swap them back.
    for key in range(200):
        assert synthesizer.paraphrase("big large", key) != "big large"
