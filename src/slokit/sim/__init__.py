"""Discrete-event simulation of LLM serving: replica model, cluster, engine on a virtual clock."""

from slokit.policies import (
    Autoscaler,
    Balancer,
    LeastOutstandingBalancer,
    PrefixAffinityBalancer,
    RoundRobinBalancer,
    ScalingSnapshot,
)
from slokit.sim.cluster import Admission, Cluster, ClusterView, Member, ReplicaView
from slokit.sim.decisions import AlwaysAdmit
from slokit.sim.engine import Workload, simulate
from slokit.sim.events import TOO_LONG, Event, EventKind, Request
from slokit.sim.gateway import GatewayAdmission, GatewayConfig
from slokit.sim.prefix import PrefixCache
from slokit.sim.profile import PROFILE_VERSION, Profile, example_profile
from slokit.sim.replica import Replica
from slokit.sim.result import Outcome, ReplicaReport, SimulationResult, Timeline

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
    "GatewayAdmission",
    "GatewayConfig",
    "LeastOutstandingBalancer",
    "Member",
    "Outcome",
    "PrefixAffinityBalancer",
    "PrefixCache",
    "Profile",
    "Replica",
    "ReplicaReport",
    "ReplicaView",
    "Request",
    "RoundRobinBalancer",
    "ScalingSnapshot",
    "SimulationResult",
    "Timeline",
    "Workload",
    "example_profile",
    "simulate",
]
