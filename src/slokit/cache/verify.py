"""Verification of a candidate hit: the lexical evidence beside the embedding similarity.

Embeddings place "visiting Nigeria" next to "visiting Sudan" and "can I" next to "can't I".
These pure functions extract what differs: negations, numbers, named entities and content
words. :mod:`slokit.cache.scoring` turns them into features of the learned hit score, and two
of them are also hard guards (a number or a negation that differs vetoes the hit).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

# Letters of any script (so that two Chinese questions are not both "empty"), or numbers.
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|')*|\d+(?:[.,]\d+)*")
# A token with a digit in it, whole ("M604dn", "6th", "3.5", "i7"), or a word.
_CODE_OR_WORD = re.compile(r"\w*\d(?:[\w.,]*\w)?|[^\W\d_]+")
_TRAILING = re.compile(r"[\s?!.]+$")

NEGATIONS: frozenset[str] = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"}
)
# Spelled-out numbers and ordinals, written as digits ("one" is left out: "how does one...").
NUMBER_WORDS: dict[str, str] = {
    **{
        w: str(n)
        for n, w in enumerate("two three four five six seven eight nine ten".split(), 2)  # noqa: SIM905
    },
    **{
        w: f"{n}{suffix}"
        for n, (w, suffix) in enumerate(
            zip(
                "first second third fourth fifth sixth seventh eighth ninth tenth".split(),  # noqa: SIM905
                ["st", "nd", "rd"] + ["th"] * 7,
                strict=True,
            ),
            1,
        )
    },
}
STOPWORDS: frozenset[str] = frozenset(
    """a an the of to in on at for by with from and or but if then so as is are was were be been
    being am do does did doing have has had having i me my we our you your he she it its they
    them their this that these those what which who whom whose when where why how can could
    should would will shall may might must there here about into over than too very just some
    any all more most other such only own same also out up down off again further once s t
    one get got make best way ways good really quora""".split()  # noqa: SIM905 - a word list
)


@dataclass(frozen=True, slots=True)
class TextView:
    """The parts of a text that verification compares."""

    normal: str
    words: frozenset[str]
    content: frozenset[str]
    codes: tuple[str, ...]
    entities: frozenset[str]
    negated: bool
    length: int


@lru_cache(maxsize=65_536)
def view(text: str) -> TextView:
    """Lower-cased words, content words (stemmed), numbers, capitalised entities, negation."""
    tokens = _WORD.findall(text)
    lower = [token.lower() for token in tokens]
    negated = any(w in NEGATIONS or w.endswith("n't") for w in lower)
    # A capitalised word that is not the first of the text or of a sentence names something.
    entities = {
        token.lower()
        for position, token in enumerate(tokens)
        if position > 0 and token[0].isupper() and token.lower() not in STOPWORDS
    }
    content = {
        _stem(w)
        for w in lower
        if w not in STOPWORDS and w not in NUMBER_WORDS and not w.endswith("n't")
    }
    codes = [
        NUMBER_WORDS.get(token.lower()) or token.lower().replace(",", "")
        for token in _CODE_OR_WORD.findall(text)
        if token.lower() in NUMBER_WORDS or any(ch.isdigit() for ch in token)
    ]
    return TextView(
        normal=" ".join(_TRAILING.sub("", text.lower()).split()),
        words=frozenset(lower),
        content=frozenset(content),
        codes=tuple(codes),
        entities=frozenset(entities),
        negated=negated,
        length=len(tokens),
    )


def same_text(query: str, candidate: str) -> bool:
    """Equal after lower-casing, collapsing spaces and dropping trailing punctuation."""
    return view(query).normal == view(candidate).normal


def numbers_differ(query: str, candidate: str) -> bool:
    """The numbers, spelled out or not, and digit-bearing names ("M604dn", "6th"), in order."""
    return view(query).codes != view(candidate).codes


def negation_differs(query: str, candidate: str) -> bool:
    return view(query).negated != view(candidate).negated


def unmatched_entities(query: str, candidate: str) -> int:
    """Named entities of either text that the other text does not mention at all."""
    q, c = view(query), view(candidate)
    return len(q.entities - c.words) + len(c.entities - q.words)


def lexical_features(query: str, candidate: str) -> tuple[float, ...]:
    """Content-word Jaccard, unmatched content words each way (as shares), length log-ratio,
    unmatched entities, number and negation mismatch."""
    q, c = view(query), view(candidate)
    union = q.content | c.content
    jaccard = len(q.content & c.content) / len(union) if union else 1.0
    only_query = len(q.content - c.content) / max(1, len(q.content))
    only_candidate = len(c.content - q.content) / max(1, len(c.content))
    length_ratio = abs(math.log((q.length + 1) / (c.length + 1)))
    return (
        jaccard,
        only_query,
        only_candidate,
        length_ratio,
        float(unmatched_entities(query, candidate)),
        float(numbers_differ(query, candidate)),
        float(negation_differs(query, candidate)),
    )


LEXICAL_FEATURE_NAMES: tuple[str, ...] = (
    "content_jaccard",
    "unmatched_query_words",
    "unmatched_cached_words",
    "length_log_ratio",
    "unmatched_entities",
    "numbers_differ",
    "negation_differs",
)


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
