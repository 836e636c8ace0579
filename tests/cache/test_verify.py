"""Verification evidence: numbers, negations, entities, same text."""

from __future__ import annotations

from slokit.cache.verify import (
    lexical_features,
    negation_differs,
    numbers_differ,
    same_text,
    unmatched_entities,
)


def test_same_text_ignores_case_spacing_and_trailing_punctuation() -> None:
    assert same_text("What is light?", "what  is light")
    assert not same_text("What is light?", "What is dark?")


def test_numbers_must_match() -> None:
    assert numbers_differ("Is 2019 a leap year?", "Is 2020 a leap year?")
    assert not numbers_differ("Top 10 films", "The 10 best films")


def test_negation_must_match() -> None:
    assert negation_differs("Can I pay by card?", "Can't I pay by card?")
    assert negation_differs("Is it safe?", "Is it not safe?")
    assert not negation_differs("Is it safe?", "Is this safe?")


def test_an_entity_absent_from_the_other_text_counts() -> None:
    nigeria = "What faux pas to avoid when visiting Nigeria?"
    assert unmatched_entities(nigeria, "What faux pas to avoid when visiting Sudan?") == 2
    assert unmatched_entities(nigeria, "When visiting nigeria, what faux pas to avoid?") == 0


def test_digit_bearing_names_and_spelled_numbers_must_match_in_order() -> None:
    assert numbers_differ("HP LaserJet M604dn review", "HP LaserJet M604n review")
    assert numbers_differ(
        "Is i5 (6th gen) or i7 (5th gen) better?", "Is i5 (7th gen) or i7 (6th gen) better?"
    )
    assert numbers_differ("What is the first moment?", "What is the second moment?")
    assert not numbers_differ("Top ten films", "The 10 best films")
    assert not numbers_differ("Costs 1,000 dollars", "Costs 1000 dollars")


def test_text_in_other_scripts_is_compared_too() -> None:
    jaccard = lexical_features("What does 呵呵 mean?", "What does 嘚瑟 mean?")[0]
    assert jaccard < 1.0
