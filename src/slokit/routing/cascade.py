"""A FrugalGPT-style cascade: ask the cheapest model first, escalate when a verifier fails.

Each tier is a model and a verifier of its answer; the last tier's answer is always kept.
Verifiers need no second model: the answer's format, agreement among several samples
(self-consistency), or the model's own confidence from its token log-probabilities.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from slokit.errors import ConfigError, DataError


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """One sampled answer; ``token_logprobs`` when the backend returns them."""

    text: str
    token_logprobs: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether the answer is kept, with the reason in words."""

    accepted: bool
    reason: str


class Verifier(Protocol):
    """Judges a tier's completions without calling another model."""

    @property
    def samples(self) -> int:
        """How many completions of the prompt it needs."""
        ...

    def verify(self, completions: Sequence[Completion]) -> Verdict: ...


# (model, prompt, samples) -> that many completions.
Complete = Callable[[str, str, int], Awaitable[Sequence[Completion]]]


@dataclass(frozen=True, slots=True)
class FormatVerifier:
    """Accepts when the answer matches ``pattern`` in full (stripped), or parses as JSON."""

    pattern: re.Pattern[str] | None = None
    json_object: bool = False

    def __post_init__(self) -> None:
        if (self.pattern is None) == (not self.json_object):
            raise ConfigError("a format verifier needs exactly one of a pattern or json_object")

    @property
    def samples(self) -> int:
        return 1

    def verify(self, completions: Sequence[Completion]) -> Verdict:
        text = completions[0].text.strip()
        if self.pattern is not None:
            if self.pattern.fullmatch(text):
                return Verdict(accepted=True, reason="answer has the expected format")
            return Verdict(accepted=False, reason=f"answer does not match {self.pattern.pattern!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return Verdict(accepted=False, reason="answer is not JSON")
        if not isinstance(value, dict):
            return Verdict(accepted=False, reason="answer is JSON but not an object")
        return Verdict(accepted=True, reason="answer is a JSON object")


def _stripped(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class SelfConsistencyVerifier:
    """Accepts when at least ``agreement`` of ``samples`` answers agree after ``normalise``.

    The kept answer is then the first of the majority (see :meth:`majority`).
    """

    samples: int = 3
    agreement: float = 2 / 3
    normalise: Callable[[str], str] = _stripped

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise ConfigError(f"self-consistency needs >= 2 samples, got {self.samples}")
        if not 0.0 < self.agreement <= 1.0:
            raise ConfigError(f"agreement must be a share in (0, 1], got {self.agreement}")

    def majority(self, completions: Sequence[Completion]) -> Completion:
        counts = Counter(self.normalise(completion.text) for completion in completions)
        answer, _ = counts.most_common(1)[0]
        return next(c for c in completions if self.normalise(c.text) == answer)

    def verify(self, completions: Sequence[Completion]) -> Verdict:
        counts = Counter(self.normalise(completion.text) for completion in completions)
        top = counts.most_common(1)[0][1]
        share = top / len(completions)
        accepted = share >= self.agreement
        return Verdict(
            accepted=accepted,
            reason=f"{top} of {len(completions)} samples agree "
            f"({'at least' if accepted else 'below'} {self.agreement:.0%})",
        )


@dataclass(frozen=True, slots=True)
class LogprobVerifier:
    """Accepts when the mean token log-probability is at least ``min_mean_logprob``.

    ``exp`` of the mean is the geometric-mean probability per token: -0.1 means the model
    gave its own tokens about 90% on average. No log-probabilities: not accepted.
    """

    min_mean_logprob: float

    def __post_init__(self) -> None:
        if not self.min_mean_logprob <= 0:
            raise ConfigError(f"min_mean_logprob must be <= 0, got {self.min_mean_logprob}")

    @property
    def samples(self) -> int:
        return 1

    def verify(self, completions: Sequence[Completion]) -> Verdict:
        logprobs = completions[0].token_logprobs
        if not logprobs:
            return Verdict(accepted=False, reason="no token log-probabilities to judge by")
        mean = math.fsum(logprobs) / len(logprobs)
        accepted = mean >= self.min_mean_logprob
        return Verdict(
            accepted=accepted,
            reason=f"mean token log-probability {mean:.3f} "
            f"{'>=' if accepted else '<'} {self.min_mean_logprob:g}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """A model, its price per call, and the verifier of its answers (None on the last tier)."""

    model: str
    price: float
    verifier: Verifier | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    model: str
    verdict: Verdict | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeResult:
    """The kept answer, the model that gave it, each tier tried, and the summed price."""

    model: str
    completion: Completion
    attempts: tuple[Attempt, ...]
    cost: float


@dataclass(frozen=True, slots=True)
class Cascade:
    """Tiers in order of price; every tier but the last has a verifier."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ConfigError("a cascade needs at least one tier")
        for tier in self.tiers[:-1]:
            if tier.verifier is None:
                raise ConfigError(f"tier {tier.model!r} is not last, so it needs a verifier")

    async def run(self, prompt: str, complete: Complete) -> CascadeResult:
        """Ask each tier in turn until one's answer is accepted (the last always is)."""
        attempts: list[Attempt] = []
        cost = 0.0
        for index, tier in enumerate(self.tiers):
            samples = 1 if tier.verifier is None else tier.verifier.samples
            completions = await complete(tier.model, prompt, samples)
            if len(completions) != samples:
                raise DataError(
                    f"asked {tier.model!r} for {samples} completions, got {len(completions)}"
                )
            cost += tier.price * samples
            last = index == len(self.tiers) - 1
            verdict = None if tier.verifier is None else tier.verifier.verify(completions)
            attempts.append(Attempt(model=tier.model, verdict=verdict))
            if last or (verdict is not None and verdict.accepted):
                kept = completions[0]
                if isinstance(tier.verifier, SelfConsistencyVerifier):
                    kept = tier.verifier.majority(completions)
                return CascadeResult(
                    model=tier.model, completion=kept, attempts=tuple(attempts), cost=cost
                )
        raise AssertionError("unreachable: the last tier always returns")  # pragma: no cover
