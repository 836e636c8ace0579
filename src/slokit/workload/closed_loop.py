"""Closed-loop load: a fixed number of users, each sending its next request only after the last.

Semantics, which bench and the simulator both follow:

1. ``users`` users start, user ``u`` at ``u * ramp_up_s / users`` (all at 0 without ramp-up).
2. A user takes the next request of the plan (plan order, whoever is free first), sends it,
   and waits for the whole reply (or its error or timeout).
3. The user then thinks for a time drawn from ``think_time`` and goes back to step 2.
4. The run ends when the plan is exhausted or the consumer's duration is up.

The offered rate is therefore an outcome, not an input: about
``users / (response time + mean think time)`` (the interactive response-time law). The plan's
``arrival_s`` column is all zeros under a closed loop: every request is eligible from the start
and only a free user sends it. Each user draws its think times from its own seeded stream, so a
user's sequence is reproducible whatever order replies come back in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError
from slokit.workload.seeding import RandomSource, Stream, as_generator, check_seed, stream
from slokit.workload.shapes import format_number

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThinkTime:
    """Think time between a reply and the user's next request: mean ``mean_s``, CV ``cv``.

    ``cv`` 0 is a fixed think time, 1 an exponential one, other values a gamma distribution
    (shape ``1 / cv**2``, scale ``mean_s * cv**2``) with that mean and CV.
    """

    mean_s: float = 0.0
    cv: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_s) and self.mean_s >= 0):
            raise ConfigError(f"think time: mean must be a finite time >= 0 s, got {self.mean_s}")
        if not (math.isfinite(self.cv) and self.cv >= 0):
            raise ConfigError(f"think time: cv must be a finite number >= 0, got {self.cv}")

    def sample(self, rng: RandomSource, count: int) -> FloatArray:
        """``count`` think times in seconds."""
        if self.mean_s == 0 or self.cv == 0:
            return np.full(count, self.mean_s, dtype=np.float64)
        return as_generator(rng).gamma(1.0 / self.cv**2, self.mean_s * self.cv**2, size=count)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoop:
    """``users`` concurrent users, each: send, wait for the reply, think, send again."""

    users: int
    think_time: ThinkTime = ThinkTime()
    ramp_up_s: float = 0.0

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ConfigError(f"closed loop: users must be >= 1, got {self.users}")
        if not (math.isfinite(self.ramp_up_s) and self.ramp_up_s >= 0):
            raise ConfigError(f"closed loop: ramp must be a time >= 0 s, got {self.ramp_up_s}")

    def start_offsets_s(self) -> FloatArray:
        """When each user sends its first request, spread evenly over the ramp-up."""
        return np.arange(self.users, dtype=np.float64) * (self.ramp_up_s / self.users)

    def think_sampler(self, seed: int) -> ThinkTimeSampler:
        """A sampler of per-user think times, seeded with ``seed``."""
        return ThinkTimeSampler(self, seed=seed)

    @property
    def spec(self) -> str:
        """The text that :func:`slokit.workload.parse_arrivals` reads back into this loop."""
        options = [f"closed:users={self.users}"]
        if self.think_time.mean_s:
            options.append(f"think={format_number(self.think_time.mean_s)}")
        if self.think_time.cv:
            options.append(f"think_cv={format_number(self.think_time.cv)}")
        if self.ramp_up_s:
            options.append(f"ramp={format_number(self.ramp_up_s)}")
        return ",".join(options)


class ThinkTimeSampler:
    """Draws think times for the users of a :class:`ClosedLoop`, one seeded stream per user."""

    __slots__ = ("_generators", "_loop", "_seed")

    def __init__(self, loop: ClosedLoop, *, seed: int) -> None:
        check_seed(seed)
        self._loop = loop
        self._seed = seed
        self._generators: dict[int, np.random.Generator] = {}

    def next_s(self, user: int) -> float:
        """The think time user ``user`` waits after its latest reply."""
        if not 0 <= user < self._loop.users:
            raise ConfigError(f"user must be in [0, {self._loop.users}), got {user}")
        generator = self._generators.get(user)
        if generator is None:
            generator = stream(self._seed, Stream.THINK_TIME, user)
            self._generators[user] = generator
        return float(self._loop.think_time.sample(generator, 1)[0])
