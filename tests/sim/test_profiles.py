from pathlib import Path

import pytest

from slokit.errors import ConfigError
from slokit.sim import Profile
from slokit.sim.profiles import load_profile, profile_info, shipped_profiles


def test_every_shipped_profile_loads_and_names_its_sources() -> None:
    names = shipped_profiles()
    assert "llama-3-8b-h100-vllm" in names
    assert "smollm2-135m-llamacpp-cpu" in names
    for name in names:
        profile = load_profile(name)
        assert profile.decode_step_time_s(1, 1000) > 0
        info = profile_info(name)
        assert info.name == name
        assert info.description
        assert info.sources


def test_the_measured_profile_serves_one_request_at_a_time() -> None:
    profile = load_profile("smollm2-135m-llamacpp-cpu")
    assert (profile.max_batch_size, profile.chunked_prefill) == (1, False)
    assert profile.kv_capacity_tokens < 2048  # n_ctx less the chat template


def test_a_path_loads_a_plain_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    load_profile("llama-3-8b-a100-vllm").save(path)
    assert load_profile(path) == load_profile(str(path)) == Profile.load(path)
    assert profile_info(path).sources == ()


def test_an_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="llama-3-8b-h100-vllm"):
        load_profile("no-such-profile")


def test_a_bad_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"model": "x"}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json: profile: missing key"):
        load_profile(path)
    path.write_text("[1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_profile(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(tmp_path / "absent.json")
