"""The command-line grammars of request shapes and arrival processes (see docs/workload.md).

Token counts (prompt or output)::

    tokens   := INT                                   a fixed count, same as fixed:INT
              | "fixed:" INT
              | "uniform:" INT "-" INT [clamps]         both ends included
              | "lognormal:" "mean=" NUM ",cv=" NUM [clamps]
              | "lognormal:" "median=" NUM ",sigma=" NUM [clamps]
              | "normal:" "mean=" NUM ",std=" NUM [clamps]
              | "trace:" PATH ":" COLUMN [clamps]     resample a trace column
              | "replay" [":" clamp ("," clamp)*]       the replayed trace rows' own counts
    clamps   := ("," clamp)*        clamp := "min=" INT | "max=" INT

Arrivals::

    arrivals := "poisson:rate=" NUM
              | "gamma:rate=" NUM ",cv=" NUM
              | "constant:rate=" NUM
              | "trace:" PATH ["," "speedup=" NUM | "," "rate=" NUM] ["," "start=" TIME]
                              ["," "max=" INT]
              | "closed:users=" INT ["," "think=" TIME] ["," "think_cv=" NUM] ["," "ramp=" TIME]
    TIME     := NUM ["ms" | "s" | "m"]              seconds when no unit is given

Keyword options may come in any order. Every object built here has a ``spec`` property that
writes it back in this grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from slokit.errors import ConfigError
from slokit.workload.arrivals import (
    ArrivalProcess,
    ConstantArrivals,
    GammaArrivals,
    PoissonArrivals,
    TraceArrivals,
)
from slokit.workload.closed_loop import ClosedLoop, ThinkTime
from slokit.workload.shapes import (
    EmpiricalTokens,
    FixedTokens,
    LognormalTokens,
    NormalTokens,
    ReplayTokens,
    TokenSampler,
    UniformTokens,
)
from slokit.workload.traces import load_trace

SHAPE_EXAMPLES = (
    "128 | fixed:128 | uniform:64-512 | lognormal:mean=512,cv=0.8 | "
    "lognormal:median=400,sigma=0.7 | normal:mean=256,std=64 | trace:PATH:prompt_tokens | replay"
)
ARRIVAL_EXAMPLES = (
    "poisson:rate=5 | gamma:rate=5,cv=3 | constant:rate=5 | trace:PATH[,speedup=2] | "
    "closed:users=8,think=2s"
)
_TIME_UNITS_S = {"ms": 1e-3, "s": 1.0, "m": 60.0}
_TIME = re.compile(r"^(?P<number>[0-9.eE+-]+?)(?P<unit>ms|s|m)?$")
_CLAMPS_AT_END = re.compile(r"(?:,(?:min|max)=[^,]*)*$")
_Built = TypeVar("_Built")


class _Args:
    """The options of one spec, consumed by name; its errors name the text and the grammar."""

    def __init__(self, text: str, what: str, examples: str, options: list[str]) -> None:
        self.text = text
        self.what = what
        self.examples = examples
        self.positional = [option.strip() for option in options if "=" not in option]
        self.values: dict[str, str] = {}
        for option in options:
            if "=" not in option:
                continue
            key, _, value = option.partition("=")
            key = key.strip().lower()
            if not key:
                raise self.fail(f"'{option}' is not key=value")
            if key in self.values:
                raise self.fail(f"'{key}' is given twice")
            self.values[key] = value.strip()

    def fail(self, problem: str) -> ConfigError:
        """The error to raise for ``problem``."""
        return ConfigError(f"{self.what} '{self.text}': {problem}; write it as {self.examples}")

    def integer(self, key: str) -> int | None:
        raw = self.values.pop(key, None)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise self.fail(f"{key} must be an integer, got '{raw}'") from None

    def number(self, key: str) -> float | None:
        raw = self.values.pop(key, None)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            raise self.fail(f"{key} must be a number, got '{raw}'") from None

    def required(self, value: _Built | None, key: str) -> _Built:
        if value is None:
            raise self.fail(f"{key}= is required")
        return value

    def seconds(self, key: str) -> float | None:
        raw = self.values.pop(key, None)
        if raw is None:
            return None
        match = _TIME.match(raw)
        number = _float_or_none(match["number"]) if match else None
        if match is None or number is None:
            raise self.fail(f"{key} must be a time such as 30, 30s or 500ms, got '{raw}'")
        return number * _TIME_UNITS_S[match["unit"] or "s"]

    def clamps(self) -> tuple[int, int | None]:
        """The ``min=`` (default 1) and ``max=`` (default none) clamps."""
        minimum = self.integer("min")
        return (1 if minimum is None else minimum), self.integer("max")

    def build(self, make: Callable[[], _Built]) -> _Built:
        """Check that every option was used, then build, naming the text if validation fails."""
        if self.positional:
            raise self.fail(f"unexpected '{self.positional[0]}'")
        if self.values:
            raise self.fail(f"unknown option(s) {sorted(self.values)}")
        try:
            return make()
        except ConfigError as error:
            raise self.fail(str(error)) from None


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _split(rest: str) -> list[str]:
    return [part for part in rest.split(",") if part.strip()]


def parse_tokens(text: str, *, name: str = "tokens") -> TokenSampler | ReplayTokens:
    """Read a token-count distribution; ``name`` (e.g. ``--prompt-tokens``) labels errors."""
    stripped = text.strip()
    if stripped.isdigit():
        stripped = f"fixed:{stripped}"
    kind, _, rest = stripped.partition(":")
    kind = kind.strip().lower()
    if kind == "trace":
        return _trace_tokens(text, name, rest)
    args = _Args(text, name, SHAPE_EXAMPLES, _split(rest))
    parse = _TOKEN_KINDS.get(kind)
    if parse is None:
        raise args.fail(f"unknown kind '{kind}'" if kind else "empty text")
    return parse(args)


def _fixed(args: _Args) -> FixedTokens:
    count = args.positional.pop() if len(args.positional) == 1 else ""
    if not count.isdigit():
        raise args.fail("fixed needs one integer count")
    return args.build(lambda: FixedTokens(tokens=int(count)))


def _uniform(args: _Args) -> UniformTokens:
    bounds = args.positional.pop() if len(args.positional) == 1 else ""
    low, dash, high = bounds.partition("-")
    if not (dash and low.strip().isdigit() and high.strip().isdigit()):
        raise args.fail("uniform needs a range LOW-HIGH of integers")
    lo, hi = args.clamps()
    return args.build(
        lambda: UniformTokens(
            low_tokens=int(low), high_tokens=int(high), min_tokens=lo, max_tokens=hi
        )
    )


def _lognormal(args: _Args) -> LognormalTokens:
    numbers = {key: args.number(key) for key in ("mean", "cv", "median", "sigma")}
    lo, hi = args.clamps()
    return args.build(
        lambda: LognormalTokens(
            mean_tokens=numbers["mean"],
            cv=numbers["cv"],
            median_tokens=numbers["median"],
            sigma=numbers["sigma"],
            min_tokens=lo,
            max_tokens=hi,
        )
    )


def _normal(args: _Args) -> NormalTokens:
    mean = args.required(args.number("mean"), "mean")
    std = args.required(args.number("std"), "std")
    lo, hi = args.clamps()
    return args.build(
        lambda: NormalTokens(mean_tokens=mean, std_tokens=std, min_tokens=lo, max_tokens=hi)
    )


def _replay(args: _Args) -> ReplayTokens:
    lo, hi = args.clamps()
    return args.build(lambda: ReplayTokens(min_tokens=lo, max_tokens=hi))


_TOKEN_KINDS: Mapping[str, Callable[[_Args], TokenSampler | ReplayTokens]] = MappingProxyType(
    {
        "fixed": _fixed,
        "uniform": _uniform,
        "lognormal": _lognormal,
        "normal": _normal,
        "replay": _replay,
    }
)


def _trace_tokens(text: str, name: str, rest: str) -> EmpiricalTokens:
    # The path may hold ':' and ',' of its own: the clamps are at the end, the column after the
    # last ':' before them.
    clamp_text = _CLAMPS_AT_END.search(rest)
    body = rest[: clamp_text.start()] if clamp_text else rest
    args = _Args(text, name, SHAPE_EXAMPLES, _split(clamp_text.group() if clamp_text else ""))
    path, colon, column = (part.strip() for part in body.rpartition(":"))
    if not (colon and path and column):
        raise args.fail("a trace needs a path and a column, e.g. trace:conv.csv:prompt_tokens")
    lo, hi = args.clamps()
    values = load_trace(Path(path)).token_column(column)
    source = f"trace:{path}:{column}"
    return args.build(
        lambda: EmpiricalTokens(values=values, source=source, min_tokens=lo, max_tokens=hi)
    )


def parse_arrivals(text: str, *, name: str = "arrivals") -> ArrivalProcess | ClosedLoop:
    """Read an arrival process (or a closed loop); ``name`` labels errors."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "trace":
        return _trace_arrivals(text, name, rest)
    args = _Args(text, name, ARRIVAL_EXAMPLES, _split(rest))
    if kind in {"poisson", "constant"}:
        rate = args.required(args.number("rate"), "rate")
        process = PoissonArrivals if kind == "poisson" else ConstantArrivals
        return args.build(lambda: process(rate_per_s=rate))
    if kind == "gamma":
        rate = args.required(args.number("rate"), "rate")
        cv = args.required(args.number("cv"), "cv")
        return args.build(lambda: GammaArrivals(rate_per_s=rate, cv=cv))
    if kind == "closed":
        users = args.required(args.integer("users"), "users")
        think_s = args.seconds("think") or 0.0
        think_cv = args.number("think_cv") or 0.0
        ramp_s = args.seconds("ramp") or 0.0
        return args.build(
            lambda: ClosedLoop(
                users=users, think_time=ThinkTime(mean_s=think_s, cv=think_cv), ramp_up_s=ramp_s
            )
        )
    raise args.fail(f"unknown kind '{kind}'" if kind else "empty text")


def _trace_arrivals(text: str, name: str, rest: str) -> TraceArrivals:
    path, _, option_text = rest.partition(",")
    options = _split(option_text)
    while options and "=" not in options[0]:
        # A comma inside the path: the options start at the first key=value part.
        path = f"{path},{options.pop(0)}"
    args = _Args(text, name, ARRIVAL_EXAMPLES, options)
    if not path.strip():
        raise args.fail("trace needs a file path")
    speedup, rate = args.number("speedup"), args.number("rate")
    start_s = args.seconds("start") or 0.0
    max_requests = args.integer("max")
    trace = load_trace(Path(path.strip()))
    return args.build(
        lambda: TraceArrivals(
            trace=trace,
            speedup=speedup,
            rate_per_s=rate,
            start_s=start_s,
            max_requests=max_requests,
        )
    )
