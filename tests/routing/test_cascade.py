"""The cascade escalates exactly when a tier's verifier fails."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import pytest

from slokit.errors import ConfigError
from slokit.routing import (
    Cascade,
    Completion,
    FormatVerifier,
    LogprobVerifier,
    SelfConsistencyVerifier,
    Tier,
)


class Scripted:
    """A fake backend: each model answers from a script; records what it was asked."""

    def __init__(self, answers: dict[str, list[Completion]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, model: str, prompt: str, samples: int) -> Sequence[Completion]:
        del prompt  # the script answers whatever was asked
        self.calls.append((model, samples))
        return self.answers[model][:samples]


def run(cascade: Cascade, backend: Scripted) -> object:
    return asyncio.run(cascade.run("What is 2 + 2? Answer with a letter.", backend))


LETTER = FormatVerifier(re.compile(r"[ABCD]"))


def test_a_verified_cheap_answer_stops_the_cascade() -> None:
    backend = Scripted({"small": [Completion(text=" B ")], "large": [Completion(text="B")]})
    cascade = Cascade(
        (Tier(model="small", price=1, verifier=LETTER), Tier(model="large", price=20))
    )
    result = asyncio.run(cascade.run("q", backend))
    assert result.model == "small"
    assert result.cost == 1
    assert backend.calls == [("small", 1)]


def test_a_failed_format_escalates() -> None:
    backend = Scripted({"small": [Completion(text="I think B")], "large": [Completion(text="B")]})
    cascade = Cascade(
        (Tier(model="small", price=1, verifier=LETTER), Tier(model="large", price=20))
    )
    result = asyncio.run(cascade.run("q", backend))
    assert result.model == "large"
    assert result.completion.text == "B"
    assert result.cost == 21
    assert result.attempts[0].verdict is not None
    assert not result.attempts[0].verdict.accepted


def test_self_consistency_keeps_the_majority_or_escalates() -> None:
    agree = [Completion(text="B"), Completion(text="b "), Completion(text="C")]
    disagree = [Completion(text="A"), Completion(text="B"), Completion(text="C")]
    verifier = SelfConsistencyVerifier(samples=3, agreement=2 / 3)
    for answers, model in ((agree, "small"), (disagree, "large")):
        backend = Scripted({"small": answers, "large": [Completion(text="D")]})
        cascade = Cascade(
            (Tier(model="small", price=1, verifier=verifier), Tier(model="large", price=20))
        )
        result = asyncio.run(cascade.run("q", backend))
        assert result.model == model
        assert backend.calls[0] == ("small", 3)
    assert verifier.majority(agree).text == "B"


@pytest.mark.parametrize(
    ("logprobs", "accepted"),
    [((-0.01, -0.05), True), ((-0.01, -2.0), False), (None, False)],
)
def test_logprob_confidence(logprobs: tuple[float, ...] | None, accepted: bool) -> None:
    verdict = LogprobVerifier(min_mean_logprob=-0.2).verify(
        [Completion(text="B", token_logprobs=logprobs)]
    )
    assert verdict.accepted is accepted


def test_json_format() -> None:
    verifier = FormatVerifier(json_object=True)
    assert verifier.verify([Completion(text='{"a": 1}')]).accepted
    assert not verifier.verify([Completion(text="[1]")]).accepted
    assert not verifier.verify([Completion(text="{oops")]).accepted


def test_only_the_last_tier_may_lack_a_verifier() -> None:
    with pytest.raises(ConfigError, match="needs a verifier"):
        Cascade((Tier(model="small", price=1), Tier(model="large", price=20)))
    with pytest.raises(ConfigError, match="exactly one"):
        FormatVerifier()
