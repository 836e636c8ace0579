import socket
import urllib.request

import orjson
import pytest

from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process

CONFIG = EmulatorConfig(timing=FixedTiming(ttft_s=0, itl_s=0, output_tokens=2))


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return orjson.loads(response.read())


def test_process_is_ready_on_return_and_gone_after_the_block() -> None:
    with run_emulator_process(CONFIG) as base_url:
        assert base_url.endswith("/v1")
        root = base_url.removesuffix("/v1")
        assert get_json(f"{root}/healthz") == {"status": "ok"}
        port = int(root.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_port_in_use_is_reported_not_hung_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(OSError, match="failed to start"),
            run_emulator_process(CONFIG, port=port),
        ):
            pass
