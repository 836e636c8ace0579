"""``slokit calibrate`` as a user runs it: against the emulator, and once against llama.cpp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from slokit.backends.local import LocalModelServer
from slokit.cli import main
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process
from slokit.sim import Profile
from slokit.sim.profiles import load_profile

TTFT_S = 0.040
ITL_S = 0.010
QUICK = (
    "--prompt-lengths",
    "8,16,32",
    "--repeats",
    "1",
    "--output-tokens",
    "4",
    "--warmup",
    "1",
    "--quiet",
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=TTFT_S, itl_s=ITL_S))
    with run_emulator_process(config) as url:
        yield url


def calibrate(base_url: str, out: Path, *extra: str) -> int:
    return main(["calibrate", "--base-url", base_url, "--model", "m", "-o", str(out), *extra])


def test_it_writes_a_loadable_profile_and_prints_the_fit(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "profile.json"
    report = tmp_path / "fit.json"
    code = calibrate(
        base_url,
        out,
        *QUICK,
        "--max-concurrency",
        "2",
        "--context-probe-tokens",
        "0",
        "--fit-report",
        str(report),
    )
    assert code == 0
    profile = Profile.load(out)
    assert profile == load_profile(out)
    assert profile.prefill_base_s == pytest.approx(TTFT_S, abs=0.02)
    assert profile.max_batch_size == 2
    printed = capsys.readouterr().out
    assert "parallel slots    2 (at least)" in printed
    assert "assumed: max_batch_size" in printed
    assert f"wrote {out}" in printed
    fit = orjson.loads(report.read_bytes())
    assert fit["profile"] == profile.to_json()
    assert len(fit["prefill_samples"]) == 3


def test_json_prints_the_fit_report(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = calibrate(
        base_url,
        tmp_path / "p.json",
        *QUICK,
        "--max-concurrency",
        "1",
        "--max-batch-size",
        "16",
        "--kv-capacity-tokens",
        "50000",
        "--context-probe-tokens",
        "0",
        "--json",
    )
    assert code == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["profile"]["max_batch_size"] == 16
    assert report["profile"]["kv_capacity_tokens"] == 50000


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (("--prompt-lengths", "8,x"), "--prompt-lengths"),
        (("--prompt-lengths", "8,16", "--linear-prefill", "--repeats", "0"), "--repeats"),
        (("--max-batch-size", "0"), "--max-batch-size"),
        (("--price-per-hour", "-2"), "--price-per-hour"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], flag: str
) -> None:
    assert calibrate("http://127.0.0.1:9/v1", tmp_path / "p.json", *extra) == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_an_unreachable_endpoint_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert calibrate("http://127.0.0.1:9/v1", tmp_path / "p.json", "--quiet") == 1
    assert "cannot reach" in capsys.readouterr().err


def test_the_local_llama_cpp_server_serves_one_request_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "smollm2.json"
    with LocalModelServer() as server:
        code = main(
            [
                "calibrate",
                "--base-url",
                server.base_url,
                "--model",
                server.model,
                "-o",
                str(out),
                *QUICK,
                # Long enough that prefill outweighs the timing noise of a shared machine (8 to
                # 32 tokens differ by about a millisecond here, within the noise).
                "--prompt-lengths",
                "16,512,1024",
                "--max-concurrency",
                "2",
                "--context-probe-tokens",
                "4096",
            ]
        )
    assert code == 0
    profile = Profile.load(out)
    assert (profile.max_batch_size, profile.chunked_prefill) == (1, False)
    printed = capsys.readouterr().out
    assert "parallel slots    1\n" in printed
    # n_ctx is 2048; the chat template's tokens come off it.
    overhead = 2048 - profile.kv_capacity_tokens
    assert f"prompt overhead   {overhead} tokens" in printed
    assert 10 < overhead < 100
    assert profile.prefill_per_token_s > 0
    assert profile.decode_base_s > 0
