"""The replica serving model: hand-checked timings, the naive reference, KV, prefix cache, modes."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.sim import Event, EventKind, Profile, Replica, Request

PI_OFFSET_S = math.pi * 1e-7  # keeps arrivals off iteration boundaries (see _arrivals)


def _profile(**overrides: Any) -> Profile:
    fields: dict[str, Any] = {
        "model": "test",
        "prefill_per_token_s": 0.001,
        "decode_base_s": 0.01,
        "max_batch_size": 8,
        "max_batched_tokens": 256,
        "kv_capacity_tokens": 100_000,
        "kv_block_tokens": 16,
    }
    fields.update(overrides)
    return Profile(**fields)


def _drive(
    replica: Replica,
    arrivals_s: Sequence[float],
    requests: Sequence[Request],
    probes_s: Sequence[float] = (),
) -> list[Event]:
    """Submit each request at its arrival, advancing first; also advance at ``probes_s``."""
    events: list[Event] = []
    stops = sorted([(t, 1, i) for i, t in enumerate(arrivals_s)] + [(t, 0, -1) for t in probes_s])
    for time_s, is_arrival, index in stops:
        events += replica.advance(time_s)
        if is_arrival:
            rejected = replica.submit(requests[index], time_s)
            if rejected is not None:
                events.append(rejected)
    events += replica.advance(math.inf)
    return events


def _by_request(events: Sequence[Event]) -> dict[int, list[Event]]:
    grouped: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.request_id].append(event)
    return grouped


def _first(events: list[Event], kind: EventKind) -> float:
    return next(e.time_s for e in events if e.kind == kind)


# ------------------------------------------------------------------------ hand-checked timings


def test_single_request_prefill_then_one_token_per_decode_step() -> None:
    profile = _profile(decode_per_context_token_s=1e-5)
    events = _drive(Replica(profile), [0.0], [Request(0, 10, 3)])
    # prefill 10 tokens: 0.010; decode steps on context 11 then 12.
    assert [e.kind for e in events] == [
        EventKind.SCHEDULED,
        EventKind.FIRST_TOKEN,
        EventKind.FINISHED,
    ]
    assert events[1].time_s == pytest.approx(0.010)
    assert events[2].time_s == pytest.approx(0.010 + (0.01 + 11e-5) + (0.01 + 12e-5))


def test_arrival_mid_iteration_joins_at_its_end_and_mixed_iteration_costs_both() -> None:
    profile = _profile(decode_per_context_token_s=1e-5)
    replica = Replica(profile, emit_tokens=True)
    events = _drive(replica, [0.0, 0.005], [Request(0, 10, 5), Request(1, 20, 3)])
    second = _by_request(events)[1]
    assert _first(second, EventKind.SCHEDULED) == pytest.approx(0.010)
    # decode step for request 0 (context 11) + prefill of 20 tokens.
    assert _first(second, EventKind.FIRST_TOKEN) == pytest.approx(0.010 + 0.01011 + 0.020)


def test_chunked_prefill_splits_a_long_prompt_over_iterations() -> None:
    profile = _profile(max_batched_tokens=100, prefill_per_token2_s=1e-6)
    events = _drive(Replica(profile), [0.0], [Request(0, 250, 1)])
    # three chunks (100, 100, 50): the quadratic parts add up to 250**2.
    expected = 0.001 * 250 + 1e-6 * 250**2
    assert _first(events, EventKind.FINISHED) == pytest.approx(expected)


def test_without_chunking_a_prompt_waits_for_budget_and_too_long_is_rejected() -> None:
    profile = _profile(chunked_prefill=False, max_batched_tokens=100, max_batch_size=8)
    replica = Replica(profile)
    events = _drive(
        replica,
        [0.0, 0.0, 0.0],
        [Request(0, 50, 2), Request(1, 60, 2), Request(2, 101, 2)],
    )
    grouped = _by_request(events)
    assert grouped[2][0].kind == EventKind.REJECTED
    # request 1 does not fit beside request 0's 50 tokens (and its decode token) at first.
    assert _first(grouped[1], EventKind.SCHEDULED) == pytest.approx(0.050)


def test_rejects_requests_that_can_never_fit_the_kv_cache() -> None:
    replica = Replica(_profile(kv_capacity_tokens=64, kv_block_tokens=16))
    assert replica.rejection(Request(0, 60, 4)) is None
    event = replica.submit(Request(0, 60, 5), 0.0)
    assert event is not None
    assert event.kind == EventKind.REJECTED
    assert replica.outstanding_requests == 0


def test_time_must_not_go_backwards_and_submit_needs_an_advanced_replica() -> None:
    replica = Replica(_profile())
    replica.submit(Request(0, 10, 100), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        replica.advance(0.5)
    with pytest.raises(ValueError, match="advance the replica"):
        replica.submit(Request(1, 10, 1), 100.0)
    with pytest.raises(ConfigError, match=">= 1 token"):
        replica.submit(Request(2, 0, 1), 1.0)


# ------------------------------------------------------------------------ the naive reference


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[Profile, list[float], list[Request], list[float]]:
    # Coefficients with prime denominators and arrivals offset by an irrational amount, so an
    # arrival never coincides with an iteration boundary that two float routes round apart.
    block = draw(st.sampled_from([1, 4, 16]))
    profile = Profile(
        model="ref",
        prefill_base_s=draw(st.integers(0, 5)) / 997,
        prefill_per_token_s=draw(st.integers(1, 20)) / 99_991,
        prefill_per_token2_s=draw(st.integers(0, 3)) / 9_999_991,
        decode_base_s=draw(st.integers(1, 20)) / 1_009,
        decode_per_seq_s=draw(st.integers(0, 5)) / 10_007,
        decode_per_context_token_s=draw(st.integers(0, 5)) / 1_000_003,
        max_batch_size=draw(st.integers(1, 6)),
        max_batched_tokens=draw(st.integers(6, 200)),
        chunked_prefill=draw(st.booleans()),
        kv_capacity_tokens=block * draw(st.integers(4, 60)),
        kv_block_tokens=block,
        preemption=draw(st.sampled_from(["recompute", "queue"])),
        prefix_cache=draw(st.booleans()),
    )
    count = draw(st.integers(1, 25))
    gaps = draw(st.lists(st.integers(0, 400), min_size=count, max_size=count))
    arrivals: list[float] = []
    time_s = PI_OFFSET_S
    for gap in gaps:
        time_s += gap / 1_013
        arrivals.append(time_s)
    requests = []
    for index in range(count):
        prompt = draw(st.integers(1, 150))
        group = draw(st.sampled_from([None, 1, 2]))
        requests.append(
            Request(
                index,
                prompt,
                draw(st.integers(1, 60)),
                group,
                draw(st.integers(0, prompt)) if group is not None else 0,
            )
        )
    probes = draw(st.lists(st.integers(0, 4000), max_size=6))
    return profile, arrivals, requests, [PI_OFFSET_S * 3 + p / 1_019 for p in probes]


@settings(max_examples=150, deadline=None)
@given(scenario=_scenarios(), emit_tokens=st.booleans())
def test_replica_agrees_with_the_naive_reference(
    reference: Any,
    scenario: tuple[Profile, list[float], list[Request], list[float]],
    emit_tokens: bool,
) -> None:
    profile, arrivals, requests, probes = scenario
    expected = reference(profile, arrivals, requests)
    replica = Replica(profile, emit_tokens=emit_tokens)
    grouped = _by_request(_drive(replica, arrivals, requests, probes))
    for request in requests:
        events = grouped[request.request_id]
        want = expected[request.request_id]
        if want.rejected:
            assert [e.kind for e in events] == [EventKind.REJECTED]
            continue
        assert _first(events, EventKind.SCHEDULED) == pytest.approx(want.scheduled_s, abs=1e-9)
        assert _first(events, EventKind.FIRST_TOKEN) == pytest.approx(want.first_token_s, abs=1e-9)
        assert _first(events, EventKind.FINISHED) == pytest.approx(want.end_s, abs=1e-9)
        if emit_tokens:
            tokens = [e for e in events if e.kind in (EventKind.FIRST_TOKEN, EventKind.TOKEN)]
            assert [e.tokens for e in tokens] == list(range(1, request.output_tokens + 1))
            assert [e.time_s for e in tokens] == pytest.approx(want.token_times_s, abs=1e-9)
    assert replica.outstanding_requests == 0
    assert replica.kv_used_tokens == 0
    assert replica.peak_kv_tokens <= profile.kv_capacity_blocks * profile.kv_block_tokens


# ------------------------------------------------------------------------ two modes, one model


@settings(max_examples=60, deadline=None)
@given(scenario=_scenarios())
def test_token_mode_gives_the_closed_form_first_and_last_times(
    scenario: tuple[Profile, list[float], list[Request], list[float]],
) -> None:
    profile, arrivals, requests, probes = scenario
    fast = _by_request(_drive(Replica(profile), arrivals, requests))
    slow = _by_request(_drive(Replica(profile, emit_tokens=True), arrivals, requests, probes))
    for request in requests:
        closed, tokens = fast[request.request_id], slow[request.request_id]
        if closed[0].kind == EventKind.REJECTED:
            continue
        for kind in (EventKind.SCHEDULED, EventKind.FIRST_TOKEN, EventKind.FINISHED):
            assert _first(closed, kind) == _first(tokens, kind)
        emitted = [e for e in tokens if e.kind in (EventKind.FIRST_TOKEN, EventKind.TOKEN)]
        times = [e.time_s for e in emitted]
        assert len(emitted) == request.output_tokens
        assert times == sorted(times)
        assert times[-1] == _first(tokens, EventKind.FINISHED)


def test_token_mode_next_event_is_the_next_iteration_end() -> None:
    replica = Replica(_profile(), emit_tokens=True)
    replica.submit(Request(0, 10, 4), 0.0)
    seen = []
    while (due_s := replica.next_event_s()) < math.inf:
        seen += [(e.kind, e.tokens) for e in replica.advance(due_s)]
    assert seen == [
        (EventKind.SCHEDULED, 0),
        (EventKind.FIRST_TOKEN, 1),
        (EventKind.TOKEN, 2),
        (EventKind.TOKEN, 3),
        (EventKind.TOKEN, 4),
        (EventKind.FINISHED, 4),
    ]


# ------------------------------------------------------------------------ KV capacity


@pytest.mark.parametrize("preemption", ["recompute", "queue"])
def test_kv_capacity_is_never_exceeded_and_full_kv_queues_or_preempts(preemption: str) -> None:
    profile = _profile(
        kv_capacity_tokens=640,
        kv_block_tokens=16,
        max_batch_size=32,
        max_batched_tokens=512,
        preemption=preemption,
    )
    replica = Replica(profile)
    requests = [Request(i, 40 + 7 * (i % 5), 60 + 11 * (i % 7)) for i in range(40)]
    for request in requests:
        replica.submit(request, 0.0)
    finished = 0
    waited_while_running = False
    while (due_s := replica.next_event_s()) < math.inf:
        finished += sum(e.kind == EventKind.FINISHED for e in replica.advance(due_s))
        held = replica.holdings()
        rounded = sum(-(-tokens // 16) * 16 for tokens in held.values())
        assert rounded == replica.kv_used_tokens <= profile.kv_capacity_tokens
        waited_while_running |= replica.waiting_requests > 0 and replica.running_requests > 0
    assert finished == len(requests)
    assert replica.peak_kv_tokens <= profile.kv_capacity_tokens
    assert replica.peak_kv_tokens > profile.kv_capacity_tokens * 0.8
    assert waited_while_running
    if preemption == "recompute":
        assert replica.preemptions > 0
    else:
        assert replica.preemptions == 0


@pytest.mark.parametrize("emit_tokens", [False, True])
def test_a_part_prefilled_sequence_is_evicted_when_decoding_outgrows_the_kv(
    reference: Any, emit_tokens: bool
) -> None:
    # B (60-token prompt, chunks of 7) is admitted beside A; A's growth overflows the 70-token
    # cache before B's prompt is in, so B (the newest) is evicted and waits for A to finish.
    profile = _profile(
        kv_capacity_tokens=70, kv_block_tokens=1, max_batched_tokens=8, max_batch_size=4
    )
    requests = [Request(0, 5, 40), Request(1, 60, 1)]
    replica = Replica(profile, emit_tokens=emit_tokens)
    grouped = _by_request(_drive(replica, [0.0, 0.0], requests))
    expected = reference(profile, [0.0, 0.0], requests)
    assert replica.preemptions == 1
    assert [e.kind for e in grouped[1]].count(EventKind.SCHEDULED) == 2
    finished_a = _first(grouped[0], EventKind.FINISHED)
    assert finished_a == pytest.approx(expected[0].end_s)
    assert _first(grouped[1], EventKind.FIRST_TOKEN) == pytest.approx(expected[1].first_token_s)
    assert _first(grouped[1], EventKind.FIRST_TOKEN) > finished_a
    assert _first(grouped[1], EventKind.SCHEDULED) == 0.0  # the first admission is the wait


def test_recompute_regenerates_evicted_tokens_without_repeating_them() -> None:
    profile = _profile(kv_capacity_tokens=64, kv_block_tokens=4, max_batch_size=4)
    replica = Replica(profile, emit_tokens=True)
    events = _drive(replica, [0.0] * 3, [Request(i, 8, 20) for i in range(3)])
    assert replica.preemptions > 0
    for request_events in _by_request(events).values():
        tokens = [e.tokens for e in request_events if e.kind in (1, 2)]
        assert tokens == list(range(1, 21))


# ------------------------------------------------------------------------ prefix cache


def test_prefix_cache_shortens_ttft_for_a_repeated_group() -> None:
    requests = [Request(i, 1000, 2, 7, 960) for i in range(2)]
    arrivals = [0.0, 10.0]
    for cache, saved in ((True, 960), (False, 0)):
        replica = Replica(_profile(prefix_cache=cache, max_batched_tokens=2048))
        grouped = _by_request(_drive(replica, arrivals, requests))
        ttfts = [_first(grouped[i], EventKind.FIRST_TOKEN) - arrivals[i] for i in range(2)]
        assert ttfts[0] == pytest.approx(1.0)
        assert ttfts[1] == pytest.approx(0.001 * (1000 - saved))
        assert replica.prefix_hit_tokens == saved


# ------------------------------------------------------------------------ cancellation


def test_cancel_releases_a_request_at_the_end_of_the_iteration_in_progress() -> None:
    replica = Replica(_profile(max_batch_size=1), emit_tokens=True)
    events = replica.advance(0.0)
    replica.submit(Request(0, 10, 100), 0.0)
    replica.submit(Request(1, 10, 3), 0.0)
    events += replica.advance(0.055)
    assert replica.cancel(0, 0.055)
    assert not replica.cancel(0, 0.055)
    events += replica.advance(math.inf)
    grouped = _by_request(events)
    assert all(e.time_s <= 0.06 for e in grouped[0])
    assert EventKind.FINISHED not in [e.kind for e in grouped[0]]
    # request 1 is admitted when the iteration in progress at 0.055 ends, at 0.06.
    assert _first(grouped[1], EventKind.SCHEDULED) == pytest.approx(0.06)
    assert replica.outstanding_requests == 0
    assert replica.kv_used_tokens == 0


def test_cancel_a_waiting_and_a_part_prefilled_request() -> None:
    profile = _profile(max_batch_size=2, max_batched_tokens=16, preemption="queue")
    replica = Replica(profile)
    for index, prompt in enumerate((40, 40, 8)):
        replica.submit(Request(index, prompt, 2), 0.0)
    # 16-token iterations: request 1 starts in the third, beside the end of request 0
    events = replica.advance(0.05)
    assert (replica.running_requests, replica.waiting_requests) == (2, 1)
    assert replica.cancel(1, 0.05)  # part-way through its prompt
    assert replica.cancel(2, 0.05)  # still waiting for a slot
    events += replica.advance(math.inf)
    assert [e.request_id for e in events if e.kind == EventKind.FINISHED] == [0]
    assert replica.kv_used_tokens == replica.waiting_requests == replica.running_requests == 0


@settings(max_examples=60, deadline=None)
@given(
    scenario=_scenarios(),
    cancels=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 3000)), max_size=8),
    emit_tokens=st.booleans(),
)
def test_cancelled_requests_fall_silent_and_release_everything(
    scenario: tuple[Profile, list[float], list[Request], list[float]],
    cancels: list[tuple[int, int]],
    emit_tokens: bool,
) -> None:
    profile, arrivals, requests, _ = scenario
    replica = Replica(profile, emit_tokens=emit_tokens)
    stops = sorted(
        [(t, 0, i) for i, t in enumerate(arrivals)]
        + [(PI_OFFSET_S * 2 + at / 1_021, 1, i) for i, at in cancels if i < len(requests)]
    )
    events: list[Event] = []
    cancelled_at: dict[int, int] = {}  # request id -> number of events reported before
    for time_s, is_cancel, index in stops:
        events += replica.advance(time_s)
        if not is_cancel:
            if (rejected := replica.submit(requests[index], time_s)) is not None:
                events.append(rejected)
        elif replica.cancel(index, time_s):
            cancelled_at[index] = len(events)
    events += replica.advance(math.inf)
    finished = [e.request_id for e in events if e.kind == EventKind.FINISHED]
    assert len(finished) == len(set(finished))
    for request_id, reported in cancelled_at.items():
        assert request_id not in finished
        assert all(e.request_id != request_id for e in events[reported:])
    rejected = {e.request_id for e in events if e.kind == EventKind.REJECTED}
    assert set(finished) == {r.request_id for r in requests} - rejected - set(cancelled_at)
    assert replica.outstanding_requests == 0
    assert replica.kv_used_tokens == 0
    assert replica.running_requests == replica.waiting_requests == 0
