"""Running the emulator in a process of its own, so that it shares no event loop (or GIL)
with the load generator it serves."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection

from slokit.emulate.server import EmulatorConfig, serve_emulator
from slokit.emulate.timer import tighten_timer_slack

_STOP_TIMEOUT_S = 5.0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop  # noqa: PLC0415  (optional: the standard loop works, only slower)
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


@contextmanager
def run_emulator_process(
    config: EmulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Start the emulator in a child process and yield its OpenAI base URL (``.../v1``).

    Readiness is the child's word on a pipe, sent once it listens: no polling, no sleeps.
    Leaving the block closes the pipe, which the child watches, and it shuts down; a child
    that does not exit in time is terminated. ``config`` must be picklable (the child is
    spawned, not forked, so it never inherits the parent's running event loop).
    """
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(
        target=_serve_until_told,
        args=(config, host, port, child_end),
        name="slokit-emulator",
        daemon=True,
    )
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(ready_timeout_s):
            raise TimeoutError(f"the emulator process was not ready in {ready_timeout_s} s")
        try:
            status, detail = parent_end.recv()
        except EOFError:
            raise OSError(f"the emulator process exited (code {process.exitcode})") from None
        if status != "ready":
            raise OSError(f"the emulator process failed to start: {detail}")
        yield f"http://{host}:{detail}/v1"
    finally:
        parent_end.close()
        process.join(_STOP_TIMEOUT_S)
        if process.is_alive():
            process.terminate()
            process.join(_STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()


def _serve_until_told(config: EmulatorConfig, host: str, port: int, pipe: Connection) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when this child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tighten_timer_slack()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(config, host, port, pipe))
    except OSError as error:
        with suppress(OSError):
            pipe.send(("error", str(error)))
    finally:
        pipe.close()


async def _serve(config: EmulatorConfig, host: str, port: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    async with serve_emulator(config, host=host, port=port) as running:
        stop = loop.create_future()

        def on_pipe() -> None:  # a message or the parent's end closing: either means stop
            if not stop.done():
                stop.set_result(None)

        loop.add_reader(pipe.fileno(), on_pipe)
        pipe.send(("ready", running.port))
        try:
            await stop
        finally:
            loop.remove_reader(pipe.fileno())
