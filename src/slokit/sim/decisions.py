"""The simulator's own decision object: admit every request (balancers live in slokit.policies)."""

from __future__ import annotations

from slokit.sim.cluster import ClusterView
from slokit.sim.events import Request


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
