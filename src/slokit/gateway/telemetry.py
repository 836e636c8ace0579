"""Prometheus metrics of one gateway, in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Latency buckets from 1 ms to 2 min: TTFT and E2E of LLM calls span that range.
_LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip
_TOKEN_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)
_LABELS = ("model", "tenant")


class Telemetry:
    """The gateway's histograms and counters, labelled by model and tenant."""

    def __init__(self) -> None:
        registry = CollectorRegistry(auto_describe=True)
        self.registry = registry
        self.queue_wait = Histogram(
            "slokit_gateway_queue_wait_seconds",
            "Time a request waited in admission before it was sent upstream.",
            _LABELS,
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.ttft = Histogram(
            "slokit_gateway_ttft_seconds",
            "Time to first token, from the request's arrival at the gateway.",
            _LABELS,
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.tpot = Histogram(
            "slokit_gateway_tpot_seconds",
            "Mean time per output token after the first, per request.",
            _LABELS,
            buckets=_TOKEN_BUCKETS_S,
            registry=registry,
        )
        self.e2e = Histogram(
            "slokit_gateway_e2e_seconds",
            "End-to-end latency, from arrival to the last byte.",
            _LABELS,
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.requests = Counter(
            "slokit_gateway_requests",
            "Requests answered, by HTTP status.",
            (*_LABELS, "status"),
            registry=registry,
        )
        self.admitted = Counter(
            "slokit_gateway_admitted", "Requests admitted upstream.", _LABELS, registry=registry
        )
        self.shed = Counter(
            "slokit_gateway_shed",
            "Requests shed by rate limits or admission (429/503).",
            _LABELS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "slokit_gateway_queue_depth",
            "Requests waiting in admission now.",
            _LABELS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "slokit_gateway_in_flight",
            "Requests admitted upstream and not yet finished.",
            ("model",),
            registry=registry,
        )
        self.concurrency_limit = Gauge(
            "slokit_gateway_concurrency_limit",
            "The admission concurrency limit now (Little's law on measured service times).",
            ("model",),
            registry=registry,
        )
        self.upstream_errors = Counter(
            "slokit_gateway_upstream_errors",
            "Requests that failed upstream, by error code.",
            (*_LABELS, "code"),
            registry=registry,
        )
        self.slo_requests = Counter(
            "slokit_gateway_slo_requests",
            "Requests judged against their SLO's per-request objectives.",
            (*_LABELS, "verdict"),
            registry=registry,
        )

        self.cost = Counter(
            "slokit_gateway_cost_usd",
            "What the answered requests cost, in US dollars, by the models' price table.",
            _LABELS,
            registry=registry,
        )
        self.routed = Counter(
            "slokit_gateway_routed",
            "Requests for a routed alias, by the model the router picked.",
            ("route", "model"),
            registry=registry,
        )
        self.route_seconds = Histogram(
            "slokit_gateway_route_seconds",
            "Time to score and route one request, embedding included.",
            ("route",),
            buckets=_TOKEN_BUCKETS_S,
            registry=registry,
        )
        self.cache_lookups = Counter(
            "slokit_gateway_cache_lookups",
            "Cache outcomes: hit (exact or semantic), miss, bypass.",
            ("model", "result"),
            registry=registry,
        )
        self.structured = Counter(
            "slokit_gateway_structured",
            "Structured-output requests by parse outcome: valid, repaired, coerced, reasked, "
            "failed.",
            ("model", "parse"),
            registry=registry,
        )
        self.reask_calls = Counter(
            "slokit_gateway_reask_calls",
            "Extra model calls made to re-ask for valid structured output.",
            ("model",),
            registry=registry,
        )

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
