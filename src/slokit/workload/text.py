"""Synthetic prompt text of a requested length in tokens, deterministic per seed and key.

The approximation: one word of the built-in vocabulary, with the space before it, is one token
for typical BPE tokenizers, so a text of ``n`` words is about ``n`` tokens. Texts are words
only, without punctuation, because punctuation would add tokens the count does not plan for.
Real tokenizers and chat templates differ by a few percent and add a few tokens per message;
a consumer that needs exact counts should measure them with the server's tokenizer (servers
report them in ``usage``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from slokit.workload.seeding import Stream, check_seed, stream
from slokit.workload.vocabulary import SYNONYM_GROUPS


def _synonyms() -> Mapping[str, tuple[str, ...]]:
    by_word: dict[str, set[str]] = {}
    for group in SYNONYM_GROUPS:
        for word in group:
            by_word.setdefault(word, set()).update(other for other in group if other != word)
    return MappingProxyType({word: tuple(sorted(others)) for word, others in by_word.items()})


#: Word -> its near-synonyms; every vocabulary word has at least one.
SYNONYMS: Mapping[str, tuple[str, ...]] = _synonyms()
#: The vocabulary synthetic texts are drawn from, in a fixed order (the seed indexes it).
VOCABULARY: tuple[str, ...] = tuple(sorted(SYNONYMS))

#: Probability that a paraphrase swaps a word for a synonym, and that it swaps two neighbours.
_SUBSTITUTE_PROBABILITY = 0.5
_REORDER_PROBABILITY = 0.1


class TextSynthesizer:
    """Makes the texts of one plan: any text can be rebuilt alone, from ``(seed, stream, key)``."""

    __slots__ = ("_seed", "_words")

    def __init__(self, seed: int) -> None:
        check_seed(seed)
        self._seed = seed
        self._words = np.array(VOCABULARY, dtype=object)

    def words(self, which: Stream, key: int, tokens: int) -> str:
        """About ``tokens`` tokens of text: that many words drawn for ``(which, key)``."""
        picks = stream(self._seed, which, key).integers(0, len(self._words), size=max(tokens, 0))
        return " ".join(self._words[picks].tolist())

    def paraphrase(self, text: str, key: int) -> str:
        """``text`` reworded: words swapped for synonyms, some neighbours swapped in order.

        The result has the same number of words, and so about the same number of tokens, and
        always differs from ``text`` when ``text`` has a vocabulary word in it.
        """
        rng = stream(self._seed, Stream.PARAPHRASE, key)
        words = text.split(" ")
        eligible = [i for i, word in enumerate(words) if word in SYNONYMS]
        if not eligible:
            return text
        substitute = rng.random(len(eligible)) < _SUBSTITUTE_PROBABILITY
        # At least one substitution, so that a paraphrase is never an exact repeat.
        substitute[rng.integers(len(eligible))] = True
        choice = rng.random(len(eligible))
        for j in np.flatnonzero(substitute).tolist():
            options = SYNONYMS[words[eligible[j]]]
            words[eligible[j]] = options[int(choice[j] * len(options))]
        for i in np.flatnonzero(rng.random(max(len(words) - 1, 0)) < _REORDER_PROBABILITY).tolist():
            words[i], words[i + 1] = words[i + 1], words[i]
        reworded = " ".join(words)
        if reworded == text:
            # Substitutions and swaps can cancel out ("big large" -> "large big" -> swapped back);
            # a single substitution cannot.
            words = text.split(" ")
            words[eligible[0]] = SYNONYMS[words[eligible[0]]][0]
            reworded = " ".join(words)
        return reworded
