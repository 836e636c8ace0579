"""slokit.yaml: a full example parses; every mistake names its key path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from slokit.errors import ConfigError
from slokit.gateway import hash_key, load_config, parse_config, with_backends

EXAMPLE = Path(__file__).parents[2] / "docs" / "slokit.example.yaml"


def test_the_documented_example_parses() -> None:
    config = load_config(EXAMPLE)
    model = config.model("chat")
    assert model is not None
    assert len(model.backends) == 2
    assert model.slo is not None
    assert str(model.slo).startswith("ttft_p99<=")
    assert model.timeouts.first_token_s == 10.0
    assert config.tenants[0].key_sha256 == hash_key("sk-acme-example")
    assert config.admission.max_concurrency == 64


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"models": {"gpt": {"backends": [{"url": "localhost:8000"}]}}},
            "models.gpt.backends[0].url: not a URL; write http://host:port/v1",
        ),
        ({"models": {"gpt": {"backends": []}}}, "models.gpt.backends: "),
        (
            {"models": {"gpt": {"backends": [{"url": "http://h:1/v1", "api_key_env": "sk-123"}]}}},
            "models.gpt.backends[0].api_key_env: not an environment variable name",
        ),
        (
            {"models": {"gpt": {"backends": [{"url": "http://h:1/v1"}], "slo": "ttft<=fast"}}},
            "models.gpt.slo: cannot parse objective",
        ),
        (
            {
                "models": {
                    "gpt": {"backends": [{"url": "http://h:1/v1"}], "timeouts": {"total": "soon"}}
                }
            },
            "models.gpt.timeouts.total: not a duration",
        ),
        (
            {"tenants": {"acme": {"key_sha256": "sk-plain-key"}}},
            "tenants.acme.key_sha256: not a SHA-256",
        ),
        (
            {"tenants": {"acme": {"key_sha256": "0" * 64, "priority": "vip"}}},
            "tenants.acme.priority",
        ),
        (
            {"stages": {"admission": {"max_concurency": 4}}},
            "stages.admission.max_concurency: unknown key",
        ),
        ({"server": {"port": 70000}}, "server.port: input should be less than or equal to 65535"),
    ],
)
def test_errors_name_the_key_path_and_the_fix(document: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    assert expected in str(caught.value)


def test_file_level_errors(tmp_path: Path) -> None:
    broken = tmp_path / "slokit.yaml"
    broken.write_text("models:\n  gpt: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")
    broken.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(broken)


def test_backend_options_add_models_and_replicas() -> None:
    config = with_backends(
        parse_config({}), ["a=http://h:1/v1", "a=http://h:2/v1", "b=http://h:3/v1"]
    )
    assert [(m.name, len(m.backends)) for m in config.models] == [("a", 2), ("b", 1)]
    with pytest.raises(ConfigError, match="write NAME=URL"):
        with_backends(config, ["http://h:1/v1"])
    with pytest.raises(ConfigError, match="not a URL"):
        with_backends(config, ["a=h:1"])
