"""SLO specs, per-request verdicts, attainment, goodput, percentiles, error budgets. Pure."""

from slokit.slo.attainment import Attainment, attainment
from slokit.slo.budget import (
    DEFAULT_RULES,
    PAGE_RULE,
    TICKET_RULE,
    AlertState,
    BurnRateMonitor,
    BurnRateRule,
    burn_rate,
    error_budget,
    remaining_error_budget,
)
from slokit.slo.goodput import Goodput, goodput
from slokit.slo.percentiles import SUMMARY_QUANTILES, Summary, quantile, quantiles, summarize
from slokit.slo.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch
from slokit.slo.spec import REQUEST_METRICS, Objective, SLOSpec, format_duration, parse_slo
from slokit.slo.verdict import (
    UNDEFINED_FOR_ONE_TOKEN,
    ObjectiveResult,
    Verdict,
    judge_request,
    judge_run,
)

__all__ = [
    "DEFAULT_RELATIVE_ACCURACY",
    "DEFAULT_RULES",
    "PAGE_RULE",
    "REQUEST_METRICS",
    "SUMMARY_QUANTILES",
    "TICKET_RULE",
    "UNDEFINED_FOR_ONE_TOKEN",
    "AlertState",
    "Attainment",
    "BurnRateMonitor",
    "BurnRateRule",
    "Goodput",
    "Objective",
    "ObjectiveResult",
    "QuantileSketch",
    "SLOSpec",
    "Summary",
    "Verdict",
    "attainment",
    "burn_rate",
    "error_budget",
    "format_duration",
    "goodput",
    "judge_request",
    "judge_run",
    "parse_slo",
    "quantile",
    "quantiles",
    "remaining_error_budget",
    "summarize",
]
