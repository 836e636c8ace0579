"""Capacity: Little's law, queueing models (M/M/1, M/M/c, M/G/1, G/G/c), replica planning. Pure."""

from slokit.capacity.erlang import erlang_b, erlang_c
from slokit.capacity.little import LittlesLaw, solve_littles_law
from slokit.capacity.planning import (
    DEFAULT_MAX_REPLICAS,
    DEFAULT_RATE_REL_TOL,
    PLANNABLE_METRICS,
    ObjectiveCheck,
    RatePlan,
    ReplicaPlan,
    check_objectives,
    max_rate,
    min_replicas,
    objective_value_s,
)
from slokit.capacity.queues import (
    MODEL_GGC,
    MODEL_MG1,
    MODEL_MM1,
    MODEL_MMC,
    SteadyState,
    ggc,
    mg1,
    mm1,
    mmc,
    model_name,
    steady_state,
)

__all__ = [
    "DEFAULT_MAX_REPLICAS",
    "DEFAULT_RATE_REL_TOL",
    "MODEL_GGC",
    "MODEL_MG1",
    "MODEL_MM1",
    "MODEL_MMC",
    "PLANNABLE_METRICS",
    "LittlesLaw",
    "ObjectiveCheck",
    "RatePlan",
    "ReplicaPlan",
    "SteadyState",
    "check_objectives",
    "erlang_b",
    "erlang_c",
    "ggc",
    "max_rate",
    "mg1",
    "min_replicas",
    "mm1",
    "mmc",
    "model_name",
    "objective_value_s",
    "solve_littles_law",
    "steady_state",
]
