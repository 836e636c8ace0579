"""The built-in decision objects: least-outstanding and round-robin balancing, always-admit."""

from __future__ import annotations

from collections.abc import Sequence

from slokit.sim.cluster import ClusterView, ReplicaView
from slokit.sim.events import Request


class LeastOutstandingBalancer:
    """Send each request to the replica with the fewest outstanding requests.

    The scan starts one replica further on each call, so ties rotate instead of piling onto
    the first replica (which would skew per-replica load whenever the cluster is lightly used).
    """

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def choose(
        self,
        replicas: Sequence[ReplicaView],
        request: Request,  # noqa: ARG002  (the Balancer signature; load alone decides)
        now_s: float,  # noqa: ARG002
    ) -> int:
        count = len(replicas)
        best = self._turn % count
        self._turn = best + 1
        best_load = replicas[best].outstanding_requests
        position = best
        for _ in range(count - 1):
            position = position + 1 if position + 1 < count else 0
            load = replicas[position].outstanding_requests
            if load < best_load:
                best, best_load = position, load
        return best


class RoundRobinBalancer:
    """Send requests to the ready replicas in turn."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def choose(
        self,
        replicas: Sequence[ReplicaView],
        request: Request,  # noqa: ARG002  (the Balancer signature; turn alone decides)
        now_s: float,  # noqa: ARG002
    ) -> int:
        position = self._turn % len(replicas)
        self._turn = position + 1
        return position


class AlwaysAdmit:
    """Admit every request (no shedding)."""

    __slots__ = ()

    def admit(
        self,
        cluster: ClusterView,  # noqa: ARG002  (the Admission signature; nothing is looked at)
        request: Request,  # noqa: ARG002
        now_s: float,  # noqa: ARG002
    ) -> bool:
        return True
