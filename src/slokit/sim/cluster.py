"""A cluster of replicas that grows and shrinks at runtime, and the decision protocols it consults.

Three kinds of decision object drive it: a :class:`~slokit.policies.Balancer` picks the replica
for each arrival, an :class:`Admission` policy may shed a request at arrival, an
:class:`~slokit.policies.Autoscaler` names the replica count at each tick. Balancers and
autoscalers are the :mod:`slokit.policies` objects a gateway runs too; they read time from
their arguments, so the simulator drives them on virtual time and a gateway on real time.

Lifecycle of a replica: *starting* from the moment it is added (it costs money from then on)
until ``cold_start_s`` later, when it becomes *ready* and balancers see it; when removed it is
*draining*: it gets no new requests, finishes what it holds, then *retires* and stops costing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from slokit.errors import ConfigError
from slokit.sim.events import Request
from slokit.sim.profile import Profile
from slokit.sim.replica import Replica


class ReplicaView(Protocol):
    """What a policy may read about one replica (a :class:`~slokit.sim.replica.Replica`)."""

    @property
    def replica_id(self) -> str: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def outstanding_requests(self) -> int: ...

    @property
    def waiting_requests(self) -> int: ...

    @property
    def running_requests(self) -> int: ...

    @property
    def kv_used_tokens(self) -> int: ...


class ClusterView(Protocol):
    """What a policy may read about the whole cluster."""

    @property
    def ready_replicas(self) -> Sequence[ReplicaView]: ...

    @property
    def starting_replicas(self) -> int: ...

    @property
    def pending_requests(self) -> int: ...

    @property
    def outstanding_requests(self) -> int: ...


class Admission(Protocol):
    """Decides at arrival whether a request enters; a refused request is shed."""

    def admit(self, cluster: ClusterView, request: Request, now_s: float) -> bool: ...


@dataclass(slots=True, kw_only=True)
class Member:
    """One replica's place in the cluster and its lifecycle times."""

    replica: Replica
    added_s: float
    ready_s: float
    retired_s: float | None = None
    draining: bool = False


class Cluster:
    """The replicas of one model, their lifecycle, and the list of ready ones balancers see.

    ``replicas`` start warm at time 0; later additions pay ``profile.cold_start_s``.
    """

    def __init__(self, profile: Profile, *, replicas: int, emit_tokens: bool = False) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ConfigError(f"cluster: 'replicas' must be an integer >= 0, got {replicas!r}")
        self.profile = profile
        self._emit_tokens = emit_tokens
        self.members: list[Member] = []
        self._ready: list[Replica] = []
        self._ready_members: list[int] = []
        self._starting: set[int] = set()
        self.pending: deque[int] = deque()  # request indices, in arrival order
        for _ in range(replicas):
            index = self._new_member(0.0, 0.0)
            self._set_ready(index)

    # ------------------------------------------------------------------ ClusterView

    @property
    def ready_replicas(self) -> Sequence[Replica]:
        """Ready replicas in the order they became ready; a balancer's index points here."""
        return self._ready

    @property
    def starting_replicas(self) -> int:
        """Replicas added and still in their cold start."""
        return len(self._starting)

    @property
    def pending_requests(self) -> int:
        """Requests admitted while no replica was ready, waiting for one."""
        return len(self.pending)

    @property
    def outstanding_requests(self) -> int:
        """Requests admitted and not finished: on replicas or pending."""
        live = sum(m.replica.outstanding_requests for m in self.members if m.retired_s is None)
        return live + len(self.pending)

    # ------------------------------------------------------------------ lifecycle

    def member_of_ready(self, position: int) -> int:
        """The member index of ``ready_replicas[position]``."""
        return self._ready_members[position]

    def add_replica(self, now_s: float) -> tuple[int, float]:
        """Start a replica now; returns its member index and when it will be ready."""
        ready_s = now_s + self.profile.cold_start_s
        index = self._new_member(now_s, ready_s)
        self._starting.add(index)
        return index, ready_s

    def mark_ready(self, index: int) -> bool:
        """End ``index``'s cold start; False if it was removed meanwhile."""
        if index not in self._starting:
            return False
        self._starting.discard(index)
        self._set_ready(index)
        return True

    def remove_replica(self, now_s: float) -> int | None:
        """Remove one replica: the newest starting one, else the least-loaded ready one.

        A ready replica drains (keeps serving what it holds) and retires when empty; returns the
        member index removed, or ``None`` when there is none.
        """
        if self._starting:
            index = max(self._starting)
            self._starting.discard(index)
            self.members[index].retired_s = now_s
            return index
        if not self._ready:
            return None
        # Fewest outstanding requests; among equals the newest, which has the coldest caches.
        position = min(
            range(len(self._ready)),
            key=lambda p: (self._ready[p].outstanding_requests, -p),
        )
        index = self._ready_members.pop(position)
        del self._ready[position]
        member = self.members[index]
        member.draining = True
        self.retire_if_drained(index, now_s)
        return index

    def retire_if_drained(self, index: int, now_s: float) -> None:
        """Retire a draining replica once it holds no request."""
        member = self.members[index]
        idle = member.replica.outstanding_requests == 0
        if member.draining and member.retired_s is None and idle:
            member.retired_s = now_s

    def live_replicas(self) -> int:
        """Replicas starting or ready (not draining, not retired): what an autoscaler counts."""
        return len(self._ready) + len(self._starting)

    def finish(self, now_s: float) -> None:
        """Close every replica's lifetime at the end of the run."""
        self._starting.clear()
        for member in self.members:
            if member.retired_s is None:
                member.retired_s = max(now_s, member.added_s)

    def _new_member(self, added_s: float, ready_s: float) -> int:
        index = len(self.members)
        replica = Replica(self.profile, replica_id=f"r{index}", emit_tokens=self._emit_tokens)
        self.members.append(Member(replica=replica, added_s=added_s, ready_s=ready_s))
        return index

    def _set_ready(self, index: int) -> None:
        self._ready.append(self.members[index].replica)
        self._ready_members.append(index)
