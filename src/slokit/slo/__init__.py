"""SLO specs, per-request verdicts, attainment, goodput, percentiles, error budgets. Pure."""

from slokit.slo.spec import REQUEST_METRICS, Objective, SLOSpec, format_duration, parse_slo

__all__ = ["REQUEST_METRICS", "Objective", "SLOSpec", "format_duration", "parse_slo"]
