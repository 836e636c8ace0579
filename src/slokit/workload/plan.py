"""A generated request plan: numeric columns for the simulator, lazy text views for bench.

Request ``i`` is row ``i`` of every column. Its prompt is made of three parts, counted apart:
``prefix_tokens`` of shared prefix (its group's system prompt), ``history_tokens`` of earlier
turns of its session (their user messages and replies), and the request's own new message;
``prompt_tokens`` is their sum. Text is made only when a view asks for it, and each text is
rebuilt from the plan's seed alone, so views can be made in any order, on any worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError
from slokit.workload.closed_loop import ClosedLoop
from slokit.workload.seeding import Stream
from slokit.workload.text import TextSynthesizer

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KindArray = npt.NDArray[np.int8]
#: A chat message in the OpenAI ``messages`` format.
Message = dict[str, str]
#: The separator between the parts of a completions-API prompt (about one token).
PROMPT_SEPARATOR = "\n\n"


class RequestKind(IntEnum):
    """Whether a request is new, an exact repeat of an earlier one, or a rewording of one."""

    FRESH = 0
    REPEAT = 1
    PARAPHRASE = 2

    @property
    def label(self) -> str:
        """``fresh``, ``repeat`` or ``paraphrase``."""
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RequestPlan:
    """The requests of one workload run, as read-only columns of equal length.

    ``arrival_s``: when each request arrives, seconds from the run start, non-decreasing (all 0
    under a closed loop, see :mod:`slokit.workload.closed_loop`). ``prompt_tokens`` (total),
    ``output_tokens`` (what to ask for as ``max_tokens``), ``prefix_tokens`` and
    ``history_tokens``: see the module docstring. ``group_id``: the shared-prefix group, -1 for
    none. ``session_id``, ``turn`` and ``previous_id``: the session, the turn within it (from 0)
    and the id of the previous turn, which must be answered before this one is sent; -1, 0, -1
    outside sessions. ``kind``: a :class:`RequestKind`; ``original_id``: the fresh request a
    repeat or paraphrase copies, -1 for fresh requests.
    """

    arrival_s: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    prefix_tokens: IntArray
    history_tokens: IntArray
    group_id: IntArray
    session_id: IntArray
    turn: IntArray
    previous_id: IntArray
    kind: KindArray
    original_id: IntArray
    seed: int
    closed_loop: ClosedLoop | None = None
    text: TextSynthesizer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lengths = {name: len(column) for name, column in self.columns().items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"request plan columns differ in length: {lengths}")
        for column in self.columns().values():
            column.flags.writeable = False
        object.__setattr__(self, "text", TextSynthesizer(self.seed))

    def __len__(self) -> int:
        return len(self.arrival_s)

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        """Every column by name, e.g. to save the plan or build a data frame."""
        return {
            "arrival_s": self.arrival_s,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "prefix_tokens": self.prefix_tokens,
            "history_tokens": self.history_tokens,
            "group_id": self.group_id,
            "session_id": self.session_id,
            "turn": self.turn,
            "previous_id": self.previous_id,
            "kind": self.kind,
            "original_id": self.original_id,
        }

    @property
    def new_tokens(self) -> IntArray:
        """Each request's own new message: prompt less shared prefix and session history."""
        return self.prompt_tokens - self.prefix_tokens - self.history_tokens

    def kind_counts(self) -> dict[str, int]:
        """How many requests of each kind, by label."""
        counts = np.bincount(self.kind, minlength=len(RequestKind))
        return {kind.label: int(counts[kind]) for kind in RequestKind}

    def request(self, request_id: int) -> PlannedRequest:
        """The view of request ``request_id``."""
        if not 0 <= request_id < len(self):
            raise IndexError(f"request {request_id} is outside the plan of {len(self)}")
        return PlannedRequest(plan=self, request_id=request_id)

    def requests(self) -> Iterator[PlannedRequest]:
        """Views of every request, in plan order."""
        return (PlannedRequest(plan=self, request_id=i) for i in range(len(self)))


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedRequest:
    """One request of a plan; its text is made on demand.

    Under sessions, a turn's messages hold the earlier turns' replies: pass ``replies``, a
    mapping from request id to the reply text received (bench keeps a ``dict`` and adds each
    reply as it completes). A reply not in the mapping is stood in for by synthetic text of the
    planned output length, so a plan can be materialised without a server.
    """

    plan: RequestPlan = field(repr=False)
    request_id: int

    @property
    def arrival_s(self) -> float:
        return float(self.plan.arrival_s[self.request_id])

    @property
    def prompt_tokens(self) -> int:
        return int(self.plan.prompt_tokens[self.request_id])

    @property
    def output_tokens(self) -> int:
        return int(self.plan.output_tokens[self.request_id])

    @property
    def kind(self) -> RequestKind:
        return RequestKind(int(self.plan.kind[self.request_id]))

    @property
    def original_id(self) -> int | None:
        original = int(self.plan.original_id[self.request_id])
        return None if original < 0 else original

    @property
    def group_id(self) -> int | None:
        group = int(self.plan.group_id[self.request_id])
        return None if group < 0 else group

    @property
    def session_id(self) -> int | None:
        session = int(self.plan.session_id[self.request_id])
        return None if session < 0 else session

    @property
    def turn(self) -> int:
        return int(self.plan.turn[self.request_id])

    @property
    def previous_id(self) -> int | None:
        previous = int(self.plan.previous_id[self.request_id])
        return None if previous < 0 else previous

    def system_text(self) -> str | None:
        """The shared prefix of this request's group, or ``None`` outside groups."""
        group = self.group_id
        if group is None:
            return None
        tokens = int(self.plan.prefix_tokens[self.request_id])
        return self.plan.text.words(Stream.PREFIX_TEXT, group, tokens)

    def user_text(self) -> str:
        """This request's own new message (a repeat's is its original's, word for word)."""
        original = self.original_id
        if original is None:
            i = self.request_id
            plan = self.plan
            tokens = int(plan.prompt_tokens[i] - plan.prefix_tokens[i] - plan.history_tokens[i])
            return self.plan.text.words(Stream.BODY_TEXT, self.request_id, tokens)
        original_text = self.plan.request(original).user_text()
        if self.kind is RequestKind.REPEAT:
            return original_text
        return self.plan.text.paraphrase(original_text, self.request_id)

    def reply_text(self, replies: Mapping[int, str] | None = None) -> str:
        """The reply to this request: the one received if in ``replies``, else a stand-in."""
        if replies is not None and self.request_id in replies:
            return replies[self.request_id]
        return self.plan.text.words(Stream.REPLY_TEXT, self.request_id, self.output_tokens)

    def earlier_turns(self) -> list[PlannedRequest]:
        """The earlier turns of this request's session, oldest first."""
        turns: list[PlannedRequest] = []
        previous = self.previous_id
        while previous is not None:
            turns.append(self.plan.request(previous))
            previous = turns[-1].previous_id
        turns.reverse()
        return turns

    def messages(self, replies: Mapping[int, str] | None = None) -> list[Message]:
        """The OpenAI chat ``messages``: system prefix, earlier turns, then this user message."""
        system = self.system_text()
        messages = [] if system is None else [{"role": "system", "content": system}]
        for turn in self.earlier_turns():
            messages.append({"role": "user", "content": turn.user_text()})
            messages.append({"role": "assistant", "content": turn.reply_text(replies)})
        messages.append({"role": "user", "content": self.user_text()})
        return messages

    def prompt(self, replies: Mapping[int, str] | None = None) -> str:
        """The completions-API prompt: the message texts joined by blank lines."""
        return PROMPT_SEPARATOR.join(m["content"] for m in self.messages(replies))
