"""The serving profile: formulas, validation that names the key, JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slokit.errors import ConfigError
from slokit.sim import Profile, example_profile

_REQUIRED: dict[str, Any] = {
    "model": "m",
    "prefill_per_token_s": 1e-4,
    "decode_base_s": 0.01,
    "max_batch_size": 8,
    "max_batched_tokens": 512,
    "kv_capacity_tokens": 4096,
}


def test_formulas() -> None:
    profile = Profile(
        **_REQUIRED,
        prefill_base_s=0.002,
        prefill_per_token2_s=1e-8,
        decode_per_seq_s=1e-3,
        decode_per_context_token_s=1e-6,
    )
    assert profile.prefill_time_s(100) == pytest.approx(0.002 + 0.01 + 1e-4)
    assert profile.prefill_time_s(0) == 0.0
    assert profile.decode_step_time_s(4, 1000) == pytest.approx(0.01 + 0.004 + 0.001)
    assert profile.decode_step_time_s(0, 0) == 0.0
    assert profile.kv_capacity_blocks == 4096 // 16


def test_json_round_trip(tmp_path: Path) -> None:
    profile = example_profile()
    path = tmp_path / "profiles" / "gpu.json"
    profile.save(path)
    assert Profile.load(path) == profile
    assert json.loads(path.read_text())["version"] == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": 2.5}, "max_batch_size"),
        ({"kv_capacity_tokens": True}, "kv_capacity_tokens"),
        ({"decode_base_s": -1.0}, "decode_base_s"),
        ({"prefill_per_token_s": "fast"}, "prefill_per_token_s"),
        ({"prefill_base_s": float("nan")}, "prefill_base_s"),
        ({"decode_base_s": 0.0}, "decode_base_s"),
        ({"max_batched_tokens": 4}, "max_batched_tokens"),
        ({"kv_block_tokens": 0}, "kv_block_tokens"),
        ({"kv_capacity_tokens": 8}, "kv_capacity_tokens"),
        ({"preemption": "swap"}, "preemption"),
        ({"chunked_prefill": "yes"}, "chunked_prefill"),
        ({"model": ""}, "model"),
        ({"colour": "red"}, "colour"),
        ({"version": 2}, "version"),
    ],
)
def test_invalid_values_name_the_key(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Profile.from_json({**_REQUIRED, **change})


def test_missing_key_is_named_and_integral_floats_are_accepted() -> None:
    data = dict(_REQUIRED)
    del data["kv_capacity_tokens"]
    with pytest.raises(ConfigError, match="missing key 'kv_capacity_tokens'"):
        Profile.from_json(data)
    assert Profile.from_json({**_REQUIRED, "max_batch_size": 8.0}).max_batch_size == 8
    with pytest.raises(ConfigError, match="JSON object"):
        Profile.from_json([1, 2])


def test_load_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Profile.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Profile.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**_REQUIRED, "max_batch_size": -3}))
    with pytest.raises(ConfigError, match=r"wrong\.json.*max_batch_size"):
        Profile.load(wrong)
