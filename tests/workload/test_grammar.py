from __future__ import annotations

from pathlib import Path

import pytest

from slokit.errors import ConfigError, DataError
from slokit.workload import (
    ClosedLoop,
    ConstantArrivals,
    EmpiricalTokens,
    FixedTokens,
    GammaArrivals,
    LognormalTokens,
    NormalTokens,
    PoissonArrivals,
    ReplayTokens,
    ThinkTime,
    TraceArrivals,
    UniformTokens,
    parse_arrivals,
    parse_tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128", FixedTokens(tokens=128)),
        ("fixed:128", FixedTokens(tokens=128)),
        ("uniform:64-512", UniformTokens(low_tokens=64, high_tokens=512)),
        (
            "uniform: 64 - 512 , max=300",
            UniformTokens(low_tokens=64, high_tokens=512, max_tokens=300),
        ),
        ("lognormal:mean=512,cv=0.8", LognormalTokens(mean_tokens=512, cv=0.8)),
        (
            "LogNormal:sigma=0.7,median=400,min=16,max=4096",
            LognormalTokens(median_tokens=400, sigma=0.7, min_tokens=16, max_tokens=4096),
        ),
        ("normal:mean=256,std=64", NormalTokens(mean_tokens=256, std_tokens=64)),
        ("replay", ReplayTokens()),
        ("replay:max=2048", ReplayTokens(max_tokens=2048)),
    ],
)
def test_token_specs_parse_and_round_trip(text: str, expected: object) -> None:
    parsed = parse_tokens(text)
    assert parsed == expected
    assert parse_tokens(parsed.spec) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("poisson:rate=5", PoissonArrivals(rate_per_s=5)),
        ("gamma:rate=5,cv=3", GammaArrivals(rate_per_s=5, cv=3)),
        ("gamma: cv=0.5 , rate=2.5", GammaArrivals(rate_per_s=2.5, cv=0.5)),
        ("constant:rate=0.1", ConstantArrivals(rate_per_s=0.1)),
        ("closed:users=8", ClosedLoop(users=8)),
        (
            "closed:users=8,think=500ms,think_cv=1,ramp=1m",
            ClosedLoop(users=8, think_time=ThinkTime(mean_s=0.5, cv=1), ramp_up_s=60),
        ),
    ],
)
def test_arrival_specs_parse_and_round_trip(text: str, expected: object) -> None:
    parsed = parse_arrivals(text)
    assert parsed == expected
    assert parse_arrivals(parsed.spec) == parsed


def test_trace_specs_load_the_file_and_round_trip(conv_csv: Path) -> None:
    shape = parse_tokens(f"trace:{conv_csv}:num_decode_tokens,max=100")
    assert isinstance(shape, EmpiricalTokens)
    assert shape.values.tolist()[:3] == [44, 109, 3]
    assert shape.max_tokens == 100
    assert parse_tokens(shape.spec) == shape
    arrivals = parse_arrivals(f"trace:{conv_csv},speedup=2,start=1s,max=3")
    assert isinstance(arrivals, TraceArrivals)
    assert (arrivals.speedup, arrivals.start_s, arrivals.max_requests) == (2, 1, 3)
    assert parse_arrivals(arrivals.spec) == arrivals
    assert parse_arrivals(f"trace:{conv_csv},rate=4").effective_speedup == pytest.approx(2)  # type: ignore[union-attr]


def test_trace_paths_may_hold_commas_and_colons(tmp_path: Path, conv_csv: Path) -> None:
    odd = tmp_path / "a,b:c"
    odd.mkdir()
    path = odd / "conv.csv"
    path.write_bytes(conv_csv.read_bytes())
    assert len(parse_tokens(f"trace:{path}:prompt_tokens,min=2").values) == 10  # type: ignore[union-attr]
    assert parse_arrivals(f"trace:{path},speedup=3").speedup == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty text"),
        ("zipf:1.2", "unknown kind 'zipf'"),
        ("fixed:abc", "fixed needs one integer"),
        ("fixed:0", "tokens must be >= 1"),
        ("uniform:64", "LOW-HIGH"),
        ("uniform:512-64", "low <= high"),
        ("lognormal:mean=512", "either mean and cv"),
        ("lognormal:mean=512,cv=x", "cv must be a number"),
        ("normal:mean=5", "std= is required"),
        ("normal:mean=5,std=1,mean=6", "given twice"),
        ("normal:mean=5,std=1,skew=2", r"unknown option\(s\) \['skew'\]"),
        ("normal:mean=5,std=1,min=1.5", "min must be an integer"),
        ("normal:mean=5,std=1,min=0", "min_tokens must be >= 1"),
        ("lognormal:512", "unexpected '512'"),
        ("trace:conv.csv", "a path and a column"),
        ("replay:=3", "not key=value"),
    ],
)
def test_bad_token_specs_name_the_text_and_the_grammar(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        parse_tokens(text, name="--prompt-tokens")
    message = str(caught.value)
    assert f"--prompt-tokens '{text}'" in message
    assert "write it as" in message
    assert "uniform:64-512" in message


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty text"),
        ("poisson", "rate= is required"),
        ("poisson:rate=-1", "rate must be"),
        ("poisson:rate=five", "rate must be a number"),
        ("poisson:rate=5,cv=2", "unknown option"),
        ("gamma:rate=5", "cv= is required"),
        ("bursty:rate=5", "unknown kind 'bursty'"),
        ("closed:think=1s", "users= is required"),
        ("closed:users=0", "users must be >= 1"),
        ("closed:users=2,think=soon", "think must be a time"),
        ("closed:users=2,ramp=1.2.3s", "ramp must be a time"),
        ("trace:", "needs a file path"),
    ],
)
def test_bad_arrival_specs_name_the_text_and_the_grammar(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        parse_arrivals(text, name="--arrivals")
    assert f"--arrivals '{text}'" in str(caught.value)
    assert "poisson:rate=5" in str(caught.value)


def test_bad_trace_options_and_files(tmp_path: Path, conv_csv: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        parse_arrivals(f"trace:{conv_csv},speedup=2,rate=3")
    with pytest.raises(ConfigError, match="unknown option"):
        parse_arrivals(f"trace:{conv_csv},loop=yes")
    with pytest.raises(ConfigError, match=r"missing\.csv"):
        parse_arrivals(f"trace:{tmp_path / 'missing.csv'}")
    with pytest.raises(ConfigError, match="no token column 'latency'"):
        parse_tokens(f"trace:{conv_csv}:latency")
    bad = tmp_path / "bad.csv"
    bad.write_text("arrived_at,num_prefill_tokens\n0,x\n")
    with pytest.raises(DataError, match=r"bad\.csv:2"):
        parse_tokens(f"trace:{bad}:prompt_tokens")
