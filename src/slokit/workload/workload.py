"""The workload: a frozen description of a run, and its generation into a :class:`RequestPlan`.

Generation is vectorised; each concern draws from its own seeded stream (see
:mod:`slokit.workload.seeding`), so one seed gives one plan, whichever consumer asks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slokit.errors import ConfigError
from slokit.workload.arrivals import (
    ArrivalProcess,
    FloatArray,
    IntArray,
    TraceArrivals,
    check_limits,
)
from slokit.workload.closed_loop import ClosedLoop
from slokit.workload.plan import KindArray, RequestKind, RequestPlan
from slokit.workload.seeding import Stream, check_seed, stream
from slokit.workload.shapes import ReplayTokens, TokenSampler
from slokit.workload.traces import OUTPUT, PROMPT


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedPrefix:
    """``groups`` shared prefixes of ``prefix_tokens`` each: system prompts or RAG context.

    A ``fraction`` of requests (of sessions, under sessions) draws a group uniformly and starts
    with its prefix; the others have none. Models prompt reuse for prefix caching.
    """

    groups: int
    prefix_tokens: int
    fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ConfigError(f"shared prefix: groups must be >= 1, got {self.groups}")
        if self.prefix_tokens < 1:
            raise ConfigError(
                f"shared prefix: prefix_tokens must be >= 1, got {self.prefix_tokens}"
            )
        if not 0.0 <= self.fraction <= 1.0:
            raise ConfigError(f"shared prefix: fraction must be in [0, 1], got {self.fraction}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sessions:
    """Multi-turn conversations: ``sessions`` open at a time, ``turns`` turns each.

    Requests are dealt out in waves of ``sessions * turns``: within a wave, request ``j`` is
    turn ``j // sessions`` of session ``j % sessions`` (numbered on from earlier waves), so
    consecutive turns of one session are ``sessions`` arrivals apart. Each turn's prompt holds
    the earlier turns' messages and replies; the prompt-token distribution gives each turn's
    new message. A turn must not be sent before the previous turn's reply is in: a consumer
    sends it at its arrival time or when that reply completes, whichever is later.
    """

    sessions: int
    turns: int

    def __post_init__(self) -> None:
        if self.sessions < 1 or self.turns < 1:
            raise ConfigError(
                f"sessions: sessions and turns must be >= 1, got {self.sessions} and {self.turns}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """What to send: when (``arrivals``), how long (token distributions), how many, and how
    prompts relate (shared prefixes, sessions, repeats and paraphrases).

    Give ``count``, ``duration_s`` or both (the plan stops at whichever comes first); a closed
    loop needs ``count`` (its ``duration_s``, if any, is for the consumer to stop at). The
    prompt-token distribution gives each request's own new message; shared prefix and session
    history come on top. ``repeat_fraction`` and ``paraphrase_fraction`` of the requests (in
    expectation) are exact repeats or rewordings of an earlier fresh request chosen uniformly,
    with its token counts and prefix group; the first request is always fresh. They apply to
    single-turn workloads only.
    """

    arrivals: ArrivalProcess | ClosedLoop
    prompt_tokens: TokenSampler | ReplayTokens
    output_tokens: TokenSampler | ReplayTokens
    count: int | None = None
    duration_s: float | None = None
    shared_prefix: SharedPrefix | None = None
    sessions: Sessions | None = None
    repeat_fraction: float = 0.0
    paraphrase_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_seed(self.seed)
        check_limits(self.count, self.duration_s)
        if isinstance(self.arrivals, ClosedLoop) and self.count is None:
            raise ConfigError("a closed-loop workload needs a request count (count=...)")
        for column, sampler in ((PROMPT, self.prompt_tokens), (OUTPUT, self.output_tokens)):
            if isinstance(sampler, ReplayTokens):
                if not isinstance(self.arrivals, TraceArrivals):
                    raise ConfigError(f"{column}: replay needs trace arrivals (trace:PATH)")
                self.arrivals.trace.token_column(column)
        for name, fraction in (
            ("repeat_fraction", self.repeat_fraction),
            ("paraphrase_fraction", self.paraphrase_fraction),
        ):
            if not 0.0 <= fraction <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {fraction}")
        if self.repeat_fraction + self.paraphrase_fraction > 1.0:
            raise ConfigError("repeat_fraction + paraphrase_fraction must be <= 1")
        if self.sessions is not None and (self.repeat_fraction or self.paraphrase_fraction):
            raise ConfigError(
                "repeats and paraphrases apply to single-turn workloads: drop sessions or set "
                "repeat_fraction and paraphrase_fraction to 0"
            )

    def plan(self) -> RequestPlan:
        """Generate the request plan; the same workload always gives the same plan."""
        arrival_s, rows = self._arrivals()
        count = len(arrival_s)
        new_tokens = self._tokens(self.prompt_tokens, PROMPT, Stream.PROMPT_TOKENS, rows, count)
        output_tokens = self._tokens(self.output_tokens, OUTPUT, Stream.OUTPUT_TOKENS, rows, count)
        session_id, turn, previous_id = self._sessions(count)
        group_id = self._groups(session_id, count)
        shared_tokens = 0 if self.shared_prefix is None else self.shared_prefix.prefix_tokens
        prefix_tokens = np.where(group_id >= 0, shared_tokens, 0).astype(np.int64)
        kind, original_id = self._kinds(count)
        copies = original_id >= 0
        # A repeat or paraphrase asks the same question as its original: same lengths, same group.
        for column in (new_tokens, output_tokens, group_id, prefix_tokens):
            column[copies] = column[original_id[copies]]
        history_tokens = _history_tokens(new_tokens, output_tokens, turn, previous_id)
        return RequestPlan(
            arrival_s=arrival_s,
            prompt_tokens=prefix_tokens + history_tokens + new_tokens,
            output_tokens=output_tokens,
            prefix_tokens=prefix_tokens,
            history_tokens=history_tokens,
            group_id=group_id,
            session_id=session_id,
            turn=turn,
            previous_id=previous_id,
            kind=kind,
            original_id=original_id,
            seed=self.seed,
            closed_loop=self.arrivals if isinstance(self.arrivals, ClosedLoop) else None,
        )

    def _arrivals(self) -> tuple[FloatArray, IntArray | None]:
        """Arrival offsets, and the trace rows they replay (``None`` when not a replay)."""
        if isinstance(self.arrivals, ClosedLoop):
            assert self.count is not None  # guaranteed by __post_init__
            return np.zeros(self.count, dtype=np.float64), None
        if isinstance(self.arrivals, TraceArrivals):
            rows, arrival_s = self.arrivals.select(count=self.count, duration_s=self.duration_s)
            return arrival_s, rows
        rng = stream(self.seed, Stream.ARRIVALS)
        arrival_s = self.arrivals.sample(rng, count=self.count, duration_s=self.duration_s)
        return np.asarray(arrival_s, dtype=np.float64), None

    def _tokens(
        self,
        sampler: TokenSampler | ReplayTokens,
        column: str,
        which: Stream,
        rows: IntArray | None,
        count: int,
    ) -> IntArray:
        if isinstance(sampler, ReplayTokens):
            assert isinstance(self.arrivals, TraceArrivals)  # guaranteed by __post_init__
            assert rows is not None
            return sampler.take(self.arrivals.trace.token_column(column)[rows])
        tokens = np.array(sampler.sample(stream(self.seed, which), count), dtype=np.int64)
        if len(tokens) != count or (count and tokens.min() < 1):
            raise ConfigError(f"{column}: the sampler must return {count} counts, each >= 1")
        return tokens

    def _sessions(self, count: int) -> tuple[IntArray, IntArray, IntArray]:
        """Session id, turn and previous turn's id of each request (-1, 0, -1 outside)."""
        ids = np.arange(count, dtype=np.int64)
        if self.sessions is None:
            minus_one = np.full(count, -1, dtype=np.int64)
            return minus_one, np.zeros(count, dtype=np.int64), minus_one.copy()
        open_sessions = self.sessions.sessions
        wave, within = np.divmod(ids, open_sessions * self.sessions.turns)
        turn = within // open_sessions
        session_id = wave * open_sessions + within % open_sessions
        previous_id = np.where(turn > 0, ids - open_sessions, -1)
        return session_id, turn, previous_id

    def _groups(self, session_id: IntArray, count: int) -> IntArray:
        """Shared-prefix group of each request, -1 for none; a session keeps its group."""
        if self.shared_prefix is None:
            return np.full(count, -1, dtype=np.int64)
        # Under sessions a group is drawn per session; otherwise per request.
        owners = session_id if self.sessions is not None else np.arange(count, dtype=np.int64)
        draws = int(owners.max()) + 1 if count else 0
        rng = stream(self.seed, Stream.GROUPS)
        uses_prefix = rng.random(draws) < self.shared_prefix.fraction
        groups = rng.integers(0, self.shared_prefix.groups, size=draws, dtype=np.int64)
        return np.where(uses_prefix, groups, -1)[owners]

    def _kinds(self, count: int) -> tuple[KindArray, IntArray]:
        """Kind of each request and the fresh request a repeat or paraphrase copies."""
        kind = np.zeros(count, dtype=np.int8)
        original_id = np.full(count, -1, dtype=np.int64)
        if count == 0 or not (self.repeat_fraction or self.paraphrase_fraction):
            return kind, original_id
        draw = stream(self.seed, Stream.KINDS).random(count)
        kind[draw < self.repeat_fraction + self.paraphrase_fraction] = RequestKind.PARAPHRASE
        kind[draw < self.repeat_fraction] = RequestKind.REPEAT
        kind[0] = RequestKind.FRESH
        fresh = np.flatnonzero(kind == RequestKind.FRESH)
        copies = np.flatnonzero(kind != RequestKind.FRESH)
        # Uniform over the fresh requests before each copy: searchsorted counts them.
        fresh_before = np.searchsorted(fresh, copies)
        pick = stream(self.seed, Stream.ORIGINALS).random(len(copies)) * fresh_before
        original_id[copies] = fresh[pick.astype(np.int64)]
        return kind, original_id


def _history_tokens(
    new_tokens: IntArray, output_tokens: IntArray, turn: IntArray, previous_id: IntArray
) -> IntArray:
    """Tokens of earlier turns (messages and replies) in each request's prompt.

    ``history[i] = history[p] + new[p] + output[p]`` with ``p`` the previous turn; computed one
    turn number at a time, since every turn ``k`` depends only on turns ``k - 1``.
    """
    history = np.zeros(len(new_tokens), dtype=np.int64)
    by_turn = np.argsort(turn, kind="stable")
    ends = np.cumsum(np.bincount(turn))
    for k in range(1, len(ends)):
        at = by_turn[ends[k - 1] : ends[k]]
        previous = previous_id[at]
        history[at] = history[previous] + new_tokens[previous] + output_tokens[previous]
    return history
