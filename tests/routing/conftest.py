"""Synthetic labelled prompts: one topic the weak model gets right, one only the strong does."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from slokit.routing import STRONG, WEAK, LabelledSet

EASY_WORDS = ("capital", "france", "colour", "sky", "count", "apples", "spell", "cat")
HARD_WORDS = ("eigenvalue", "manifold", "homology", "tensor", "lemma", "integral", "proof")


def synthetic(n: int, seed: int = 0) -> LabelledSet:
    """Half easy prompts (both right, mostly), half hard (only strong right, mostly); the
    subject labels name which half."""
    rng = random.Random(seed)
    prompts, labels, subjects = [], [], []
    for i in range(n):
        hard = i % 2 == 1
        words = rng.choices(HARD_WORDS if hard else EASY_WORDS, k=6)
        prompts.append(f"question {i}: " + " ".join(words) + "?")
        noisy = rng.random() < 0.1
        weak_right = (not hard) != noisy
        labels.append((weak_right, True))
        subjects.append("hard" if hard else "easy")
    return LabelledSet(
        tuple(prompts), (WEAK, STRONG), np.array(labels, dtype=bool), tuple(subjects)
    )


@pytest.fixture
def examples() -> LabelledSet:
    return synthetic(200)


@pytest.fixture
def make_examples() -> Callable[..., LabelledSet]:
    return synthetic
