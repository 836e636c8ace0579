"""``slokit emulate`` as a user runs it: a process that serves until it is signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from slokit.cli import main
from slokit.sim import Profile

PROFILE = Profile(
    model="cli-model",
    prefill_per_token_s=0.0001,
    decode_base_s=0.002,
    max_batch_size=4,
    max_batched_tokens=256,
    kv_capacity_tokens=2048,
)


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "profile.json"
    PROFILE.save(path)
    return path


class Served:
    """A running ``slokit emulate`` process and the base URL it announced."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "slokit", "emulate", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        # The announcement is printed once the port is bound and the signals are handled.
        self.banner = [self.process.stdout.readline()]
        first = self.banner[0]
        assert " at http://" in first, first + self.process.communicate(timeout=10)[1]
        self.base_url = first.rsplit(" at ", 1)[1].strip()
        self.banner += [self.process.stdout.readline() for _ in range(7)]

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        out, _ = self.process.communicate(timeout=20)
        return self.process.returncode, out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def serve() -> Iterator[type[Served]]:
    started: list[Served] = []

    class Tracked(Served):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for served in started:
        served.kill()


def test_serves_a_profile_file_until_sigint(serve: type[Served], profile_file: Path) -> None:
    served = serve("--profile", str(profile_file), "--model", "my-model", "--replicas", "2")
    assert "serving model 'my-model'" in served.banner[0]
    assert "2 replicas" in served.banner[1]
    assert any("POST /v1/chat/completions" in line for line in served.banner)
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0) as client:
        assert [model.id for model in client.models.list()] == ["my-model"]
        reply = client.chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert reply.choices[0].message.content == "The quick brown"
    root = served.base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
        stats = orjson.loads(response.read())
    assert [replica["id"] for replica in stats["model"]["replicas"]] == ["r0", "r1"]
    code, out = served.stop(signal.SIGINT)
    assert code == 0
    assert "stopped" in out


def test_sigterm_mid_stream_shuts_down_cleanly(serve: type[Served]) -> None:
    served = serve("--profile", "example", "--seed", "3", "--output-tokens", "100000")
    assert "profile example (example-8b-80gb)" in served.banner[1]
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0) as client:
        stream = client.completions.create(model="any", prompt="go", stream=True)
        first = next(iter(stream))
        assert first.choices[0].text == "The"
        code, out = served.stop(signal.SIGTERM)
        with pytest.raises(openai.APIError):
            list(stream)  # the server closed the stream it was sending
    assert code == 0
    assert "stopped" in out


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("--replicas", "0", "--replicas must be a whole number >= 1"),
        ("--port", "70000", "--port must be a whole number from 0 to 65535"),
        ("--port", "http", "--port must be a whole number"),
        ("--seed", "-1", "--seed must be"),
        ("--seed", "1.5", "--seed must be a whole number"),
        ("--output-tokens", "zipf:3", "--output-tokens"),
        ("--profile", "no-such-profile", "no shipped profile named"),
        ("--model", " ", "--model must be a non-empty model name"),
    ],
)
def test_bad_flags_name_the_flag_and_exit_2(
    argument: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {"--profile": "example", "--port": "0", argument: value}
    code = main(["emulate", *(item for pair in args.items() for item in pair)])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("slokit emulate: error: ")
    assert message in error


def test_unusable_profile_file_and_busy_port_exit_2(
    tmp_path: Path, profile_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": "x"}', encoding="utf-8")
    assert main(["emulate", "--profile", str(broken), "--port", "0"]) == 2
    assert "missing key" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["emulate", "--profile", str(profile_file), "--port", port]) == 2
    error = capsys.readouterr().err
    assert f"--port {port}: cannot listen there" in error
