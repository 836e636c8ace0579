"""Query features for the light models: the prompt's embedding, optionally its length."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slokit.embedding import Embedder, embed_all
from slokit.routing.predictor import Features

# log(1 + characters) / this is about 1 for a 3,000-character prompt: on the embedding's scale.
_LENGTH_SCALE = math.log1p(3000.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureSpec:
    """``length`` appends a scaled log character count to the embedding (one more column)."""

    length: bool = False


def featurise(
    embedder: Embedder,
    prompts: Sequence[str],
    spec: FeatureSpec,
    *,
    progress: bool = False,
) -> Features:
    """One row per prompt: the unit embedding, then the extra columns ``spec`` asks for."""
    vectors = embed_all(embedder, prompts, progress=progress)
    if not spec.length:
        return vectors
    lengths = np.log1p([len(prompt) for prompt in prompts]) / _LENGTH_SCALE
    column = np.asarray(lengths, dtype=np.float32).reshape(-1, 1)
    return np.concatenate((vectors, column), axis=1)
