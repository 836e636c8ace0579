"""Policies: admission, autoscaling and replica balancing as pure objects driven by a clock.

The simulator drives them on virtual time, a gateway on the real clock: what you simulate is
what you run. See docs/policies.md for every parameter and formula.
"""

from slokit.policies.admission import (
    AdmissionQueue,
    Queued,
    ShedDecision,
    predicted_wait_s,
    shed_decision,
)
from slokit.policies.autoscaling import (
    KnativeAutoscaler,
    KnativeConfig,
    RayServeAutoscaler,
    RayServeConfig,
    SLOAutoscaler,
    SLOScalingConfig,
)
from slokit.policies.balancing import (
    Balancer,
    LeastOutstandingBalancer,
    PrefixAffinityBalancer,
    PrefixAffinityConfig,
    ReplicaLoad,
    RoundRobinBalancer,
    WeightedReplicaLoad,
    affinity_score,
)
from slokit.policies.concurrency import ConcurrencyConfig, ConcurrencyLimit
from slokit.policies.rate_limit import RateDecision, RateLimiter, TenantLimits, TokenBucket
from slokit.policies.scaling import Autoscaler, ScalingSnapshot, TimeWindow

__all__ = [
    "AdmissionQueue",
    "Autoscaler",
    "Balancer",
    "ConcurrencyConfig",
    "ConcurrencyLimit",
    "KnativeAutoscaler",
    "KnativeConfig",
    "LeastOutstandingBalancer",
    "PrefixAffinityBalancer",
    "PrefixAffinityConfig",
    "Queued",
    "RateDecision",
    "RateLimiter",
    "RayServeAutoscaler",
    "RayServeConfig",
    "ReplicaLoad",
    "RoundRobinBalancer",
    "SLOAutoscaler",
    "SLOScalingConfig",
    "ScalingSnapshot",
    "ShedDecision",
    "TenantLimits",
    "TimeWindow",
    "TokenBucket",
    "WeightedReplicaLoad",
    "affinity_score",
    "predicted_wait_s",
    "shed_decision",
]
