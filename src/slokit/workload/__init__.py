"""Workloads: arrival processes, request shapes, traces and seeded request plans.

Shared by bench (which sends the requests, with text) and the simulator (which needs only the
numbers). See docs/workload.md for the command-line grammars.
"""

from slokit.workload.arrivals import (
    ArrivalProcess,
    ConstantArrivals,
    GammaArrivals,
    PoissonArrivals,
    TraceArrivals,
)
from slokit.workload.closed_loop import ClosedLoop, ThinkTime, ThinkTimeSampler
from slokit.workload.grammar import parse_arrivals, parse_tokens
from slokit.workload.plan import Message, PlannedRequest, RequestKind, RequestPlan
from slokit.workload.seeding import RandomSource, as_generator
from slokit.workload.shapes import (
    EmpiricalTokens,
    FixedTokens,
    LognormalTokens,
    NormalTokens,
    ReplayTokens,
    TokenSampler,
    UniformTokens,
)
from slokit.workload.text import TextSynthesizer
from slokit.workload.traces import COLUMN_ALIASES, Trace, load_trace
from slokit.workload.workload import Sessions, SharedPrefix, Workload

__all__ = [
    "COLUMN_ALIASES",
    "ArrivalProcess",
    "ClosedLoop",
    "ConstantArrivals",
    "EmpiricalTokens",
    "FixedTokens",
    "GammaArrivals",
    "LognormalTokens",
    "Message",
    "NormalTokens",
    "PlannedRequest",
    "PoissonArrivals",
    "RandomSource",
    "ReplayTokens",
    "RequestKind",
    "RequestPlan",
    "Sessions",
    "SharedPrefix",
    "TextSynthesizer",
    "ThinkTime",
    "ThinkTimeSampler",
    "TokenSampler",
    "Trace",
    "TraceArrivals",
    "UniformTokens",
    "Workload",
    "as_generator",
    "load_trace",
    "parse_arrivals",
    "parse_tokens",
]
