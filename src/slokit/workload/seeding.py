"""Seeded randomness: one integer seed, independent named streams, reproducible anywhere.

Each concern (arrivals, prompt lengths, kinds, the text of request 17, ...) draws from its own
stream ``numpy.random.default_rng([seed, stream, *keys])``. Changing one knob of a workload then
leaves the draws of every other concern unchanged, and the text of any request can be rebuilt on
its own, in any order, without replaying the draws of the requests before it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from slokit.errors import ConfigError

#: What a sampling function accepts for its randomness: a generator, or a seed to build one.
RandomSource = np.random.Generator | int


class Stream(IntEnum):
    """The independent streams a workload draws from; the values are part of the seed."""

    ARRIVALS = 1
    PROMPT_TOKENS = 2
    OUTPUT_TOKENS = 3
    GROUPS = 4
    KINDS = 5
    ORIGINALS = 6
    PREFIX_TEXT = 7
    BODY_TEXT = 8
    REPLY_TEXT = 9
    PARAPHRASE = 10
    THINK_TIME = 11


def check_seed(seed: int, *, name: str = "seed") -> None:
    """Raise :class:`ConfigError` unless ``seed`` is an integer >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {seed!r}")


def as_generator(source: RandomSource) -> np.random.Generator:
    """Return ``source`` itself if it is a generator, else a new generator seeded with it."""
    if isinstance(source, np.random.Generator):
        return source
    check_seed(source)
    return np.random.default_rng(source)


def stream(seed: int, which: Stream, *keys: int) -> np.random.Generator:
    """The generator of stream ``which`` (and sub-stream ``keys``) of ``seed``."""
    return np.random.default_rng([seed, int(which), *keys])
