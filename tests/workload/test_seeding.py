from __future__ import annotations

import numpy as np
import pytest

from slokit.errors import ConfigError
from slokit.workload import as_generator
from slokit.workload.seeding import Stream, stream


def test_a_generator_passes_through_and_a_seed_builds_one() -> None:
    rng = np.random.default_rng(3)
    assert as_generator(rng) is rng
    assert as_generator(7).random() == np.random.default_rng(7).random()


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_seed_must_be_a_non_negative_integer(seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        as_generator(seed)  # type: ignore[arg-type]


def test_streams_are_reproducible_and_independent() -> None:
    assert stream(1, Stream.ARRIVALS).random() == stream(1, Stream.ARRIVALS).random()
    assert stream(1, Stream.ARRIVALS).random() != stream(1, Stream.KINDS).random()
    assert stream(1, Stream.BODY_TEXT, 4).random() != stream(1, Stream.BODY_TEXT, 5).random()
