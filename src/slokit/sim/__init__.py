"""Discrete-event simulation of LLM serving: replica model, cluster, engine on a virtual clock."""

from slokit.sim.cluster import (
    Admission,
    Autoscaler,
    Balancer,
    Cluster,
    ClusterView,
    Member,
    ReplicaView,
)
from slokit.sim.decisions import AlwaysAdmit, LeastOutstandingBalancer, RoundRobinBalancer
from slokit.sim.engine import Workload, simulate
from slokit.sim.events import TOO_LONG, Event, EventKind, Request
from slokit.sim.prefix import PrefixCache
from slokit.sim.profile import PROFILE_VERSION, Profile, example_profile
from slokit.sim.replica import Replica
from slokit.sim.result import Outcome, ReplicaReport, SimulationResult

__all__ = [
    "PROFILE_VERSION",
    "TOO_LONG",
    "Admission",
    "AlwaysAdmit",
    "Autoscaler",
    "Balancer",
    "Cluster",
    "ClusterView",
    "Event",
    "EventKind",
    "LeastOutstandingBalancer",
    "Member",
    "Outcome",
    "PrefixCache",
    "Profile",
    "Replica",
    "ReplicaReport",
    "ReplicaView",
    "Request",
    "RoundRobinBalancer",
    "SimulationResult",
    "Workload",
    "example_profile",
    "simulate",
]
