import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from slokit.backends.local import (
    LocalModelConfig,
    LocalModelServer,
    free_port,
    server_arguments,
    shipped_model_path,
)
from slokit.errors import ConfigError, MissingExtraError

REQUEST_TIMEOUT_S = 30.0
RESTART_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    with LocalModelServer() as running:
        yield running


def post_json(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        reply: dict[str, object] = orjson.loads(response.read())
        return reply


def chat_body(server: LocalModelServer, **overrides: object) -> dict[str, object]:
    return {
        "model": server.model,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 32,
        "temperature": 0,
        **overrides,
    }


def stream_chat(url: str, body: dict[str, object], *, on_first_text: threading.Event) -> list[str]:
    """Read an SSE chat stream to its end and return every data payload, [DONE] included."""
    request = urllib.request.Request(
        url,
        data=orjson.dumps({**body, "stream": True}),
        headers={"Content-Type": "application/json"},
    )
    payloads = []
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        for raw_line in response:
            line = raw_line.decode().strip()
            if line.startswith("data:"):
                payloads.append(line.removeprefix("data:").strip())
                if '"content"' in payloads[-1]:
                    on_first_text.set()
    return payloads


def streamed_text(payloads: list[str]) -> tuple[str, str | None]:
    text, finish_reason = "", None
    for payload in payloads[:-1]:
        choice = orjson.loads(payload)["choices"][0]
        text += choice["delta"].get("content") or ""
        finish_reason = choice["finish_reason"] or finish_reason
    return text, finish_reason


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def answers(server: LocalModelServer) -> bool:
    try:
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def is_gone(pid: int) -> bool:
    """No such process, or only its exit status left for a parent to collect (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_models_lists_the_alias(server: LocalModelServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
        listing = orjson.loads(response.read())
    assert [entry["id"] for entry in listing["data"]] == ["smollm2-135m"]


def test_chat_completion_returns_text_and_usage(server: LocalModelServer) -> None:
    reply = post_json(f"{server.base_url}/chat/completions", chat_body(server))
    choices = reply["choices"]
    assert isinstance(choices, list)
    text = choices[0]["message"]["content"]
    # The GGUF's own chat template is applied: the answer is about the question, with no
    # template markers leaking into it.
    assert "Paris" in text
    assert "<|im_" not in text
    usage = reply["usage"]
    assert isinstance(usage, dict)
    assert usage["prompt_tokens"] > 10
    assert 0 < usage["completion_tokens"] <= 32
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_chat_completion_sends_text_chunks_then_done(server: LocalModelServer) -> None:
    payloads = stream_chat(
        f"{server.base_url}/chat/completions", chat_body(server), on_first_text=threading.Event()
    )
    assert payloads[-1] == "[DONE]"
    text, finish_reason = streamed_text(payloads)
    assert "Paris" in text
    assert finish_reason in {"stop", "length"}
    assert len(payloads) > 3  # token by token, not one buffered chunk


def test_a_second_request_waits_for_the_stream_in_progress(server: LocalModelServer) -> None:
    url = f"{server.base_url}/chat/completions"
    long_answer = chat_body(
        server,
        messages=[{"role": "user", "content": "Write a short story about a lighthouse."}],
        max_tokens=48,
    )
    first_text = threading.Event()
    first_payloads: list[str] = []
    first_done_at: list[float] = []

    def first() -> None:
        first_payloads.extend(stream_chat(url, long_answer, on_first_text=first_text))
        first_done_at.append(time.monotonic())

    streaming = threading.Thread(target=first)
    streaming.start()
    try:
        assert first_text.wait(REQUEST_TIMEOUT_S)
        second = post_json(url, chat_body(server))
        second_done_at = time.monotonic()
    finally:
        streaming.join(REQUEST_TIMEOUT_S)
    # Not cut off: the first stream ran to its own end, with every token it was allowed.
    text, finish_reason = streamed_text(first_payloads)
    assert first_payloads[-1] == "[DONE]"
    assert finish_reason in {"stop", "length"}
    assert len(first_payloads) > 20
    assert text.strip()
    # One at a time: the second answer came after the first stream had finished.
    choices = second["choices"]
    assert isinstance(choices, list)
    assert choices[0]["message"]["content"].strip()
    assert first_done_at[0] <= second_done_at


def test_a_killed_server_is_restarted_and_answers_again(server: LocalModelServer) -> None:
    killed_pid = server.pid
    assert killed_pid is not None
    restarts_before = server.restarts
    os.kill(killed_pid, signal.SIGKILL)
    assert wait_until(
        lambda: server.restarts > restarts_before and server.pid not in {None, killed_pid},
        RESTART_TIMEOUT_S,
    )
    assert wait_until(lambda: answers(server), RESTART_TIMEOUT_S)
    assert is_gone(killed_pid)
    reply = post_json(f"{server.base_url}/chat/completions", chat_body(server))
    choices = reply["choices"]
    assert isinstance(choices, list)
    assert choices[0]["message"]["content"].strip()


@pytest.mark.asyncio
async def test_stop_leaves_no_process_behind() -> None:
    async with LocalModelServer(LocalModelConfig(stop_grace_s=2)) as running:
        pid = running.pid
        assert pid is not None
        port = int(running.base_url.removesuffix("/v1").rsplit(":", 1)[1])
    assert running.pid is None
    assert is_gone(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its process group either
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


PARENT_THAT_DIES = """
import sys, time
from slokit.backends.local import LocalModelServer
server = LocalModelServer().__enter__()
print(server.pid, flush=True)
time.sleep(600)
"""


def test_the_server_exits_when_its_parent_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT_THAT_DIES], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            child_pid = int(parent.stdout.readline())
            assert not is_gone(child_pid)
        finally:
            parent.kill()
    # Nobody stopped it: it noticed its parent's end of the stdin pipe close, and exited.
    assert wait_until(lambda: is_gone(child_pid), 10)


def test_a_server_that_cannot_start_is_reported_with_its_output(tmp_path: Path) -> None:
    not_a_model = tmp_path / "empty.gguf"
    not_a_model.write_bytes(b"")
    config = LocalModelConfig(model_path=not_a_model)
    with pytest.raises(OSError, match="exited with code") as raised:
        LocalModelServer(config).__enter__()
    assert "empty.gguf" in str(raised.value)


def test_a_server_not_ready_in_time_is_stopped_and_reported() -> None:
    config = LocalModelConfig(ready_timeout_s=0.2)
    server = LocalModelServer(config)
    with pytest.raises(TimeoutError, match=r"did not serve .*/models within 0.2 s"):
        server.__enter__()
    assert server.pid is None


def test_the_arguments_keep_a_stream_from_being_cut_off() -> None:
    arguments = server_arguments(
        LocalModelConfig(threads=3), model_path=Path("/models/m.gguf"), port=8123
    )
    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert options["--interrupt_requests"] == "False"
    assert options["--model"] == "/models/m.gguf"
    assert options["--model_alias"] == "smollm2-135m"
    assert options["--port"] == "8123"
    assert options["--n_threads"] == options["--n_threads_batch"] == "3"


def test_the_shipped_model_is_a_gguf_file() -> None:
    path = shipped_model_path()
    assert path.suffix == ".gguf"
    with path.open("rb") as model_file:
        assert model_file.read(4) == b"GGUF"


def test_a_missing_model_package_names_the_extra_and_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(MissingExtraError) as raised:
        shipped_model_path()
    assert raised.value.extra == "local"
    assert "make local-model" in "\n".join(raised.value.__notes__)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    "bad",
    [
        {"model_alias": ""},
        {"port": 70_000},
        {"context_tokens": 0},
        {"threads": -1},
        {"ready_timeout_s": 0},
        {"restart_backoff_initial_s": 2, "restart_backoff_max_s": 1},
    ],
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LocalModelConfig(**bad)  # type: ignore[arg-type]
