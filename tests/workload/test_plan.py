from __future__ import annotations

import numpy as np
import pytest

from slokit.workload import (
    FixedTokens,
    PoissonArrivals,
    RequestKind,
    RequestPlan,
    Sessions,
    SharedPrefix,
    UniformTokens,
    Workload,
)


def _plan(**overrides: object) -> RequestPlan:
    settings: dict[str, object] = {
        "arrivals": PoissonArrivals(rate_per_s=10),
        "prompt_tokens": UniformTokens(low_tokens=5, high_tokens=40),
        "output_tokens": FixedTokens(tokens=8),
        "count": 400,
        "seed": 11,
    }
    settings.update(overrides)
    return Workload(**settings).plan()  # type: ignore[arg-type]


def test_a_single_turn_request_is_one_user_message_of_its_planned_length() -> None:
    request = _plan().request(3)
    messages = request.messages()
    assert [m["role"] for m in messages] == ["user"]
    assert len(messages[0]["content"].split(" ")) == request.prompt_tokens
    assert request.prompt() == messages[0]["content"]
    assert request.kind is RequestKind.FRESH
    assert request.kind.label == "fresh"
    assert (request.original_id, request.group_id, request.session_id) == (None, None, None)
    assert (request.turn, request.previous_id) == (0, None)
    assert request.output_tokens == 8
    assert request.arrival_s > 0


def test_text_depends_on_the_seed_and_not_on_the_order_it_is_made_in() -> None:
    first, second = _plan(), _plan()
    later = second.request(300).prompt()
    assert [r.prompt() for r in first.requests()][300] == later
    assert _plan(seed=12).request(300).prompt() != later


def test_repeats_equal_their_originals_and_paraphrases_reword_them() -> None:
    plan = _plan(
        repeat_fraction=0.3,
        paraphrase_fraction=0.3,
        shared_prefix=SharedPrefix(groups=2, prefix_tokens=6, fraction=0.5),
    )
    kinds = {RequestKind.REPEAT: 0, RequestKind.PARAPHRASE: 0}
    for request in plan.requests():
        if request.original_id is None:
            continue
        kinds[request.kind] += 1
        original = plan.request(request.original_id)
        assert original.kind is RequestKind.FRESH
        if request.kind is RequestKind.REPEAT:
            assert request.messages() == original.messages()
            assert request.prompt() == original.prompt()
        else:
            assert request.user_text() != original.user_text()
            assert len(request.user_text().split(" ")) == len(original.user_text().split(" "))
            assert request.system_text() == original.system_text()
    assert min(kinds.values()) > 50


def test_requests_of_a_group_share_its_prefix_text() -> None:
    plan = _plan(shared_prefix=SharedPrefix(groups=3, prefix_tokens=25))
    by_group: dict[int, set[str]] = {}
    for request in plan.requests():
        assert request.group_id is not None
        system = request.system_text()
        assert system is not None
        assert len(system.split(" ")) == 25
        assert request.messages()[0] == {"role": "system", "content": system}
        assert request.prompt().startswith(system + "\n\n")
        by_group.setdefault(request.group_id, set()).add(system)
    assert all(len(texts) == 1 for texts in by_group.values())
    assert len(set.union(*by_group.values())) == 3


def test_a_later_turn_holds_the_earlier_turns_and_the_replies_received() -> None:
    plan = _plan(sessions=Sessions(sessions=2, turns=3), count=6)
    third = plan.request(4)
    assert (third.session_id, third.turn, third.previous_id) == (0, 2, 2)
    assert [turn.request_id for turn in third.earlier_turns()] == [0, 2]
    first, second = plan.request(0), plan.request(2)
    messages = third.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2 + ["user"]
    assert messages[0]["content"] == first.user_text()
    assert messages[2]["content"] == second.user_text()
    assert messages[4]["content"] == third.user_text()
    # Stand-in replies have the planned output length; received replies replace them.
    assert len(messages[1]["content"].split(" ")) == 8
    replies = {0: "the first answer", 2: "the second answer"}
    with_replies = third.messages(replies)
    assert [with_replies[1]["content"], with_replies[3]["content"]] == list(replies.values())
    assert third.prompt(replies).split("\n\n") == [m["content"] for m in with_replies]
    assert sum(len(m["content"].split(" ")) for m in messages) == third.prompt_tokens


def test_the_plan_is_read_only_and_bounds_checked() -> None:
    plan = _plan(count=3)
    with pytest.raises(ValueError, match="read-only"):
        plan.prompt_tokens[0] = 1
    with pytest.raises(IndexError, match="outside the plan"):
        plan.request(3)
    assert len(list(plan.requests())) == 3
    assert set(plan.columns()) >= {"arrival_s", "prompt_tokens", "output_tokens", "kind"}
    assert np.array_equal(plan.new_tokens, plan.prompt_tokens)
