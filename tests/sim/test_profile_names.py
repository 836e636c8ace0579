from pathlib import Path

import pytest

from slokit.errors import ConfigError
from slokit.sim import Profile, example_profile
from slokit.sim.profiles import load_profile, shipped_profiles


def test_a_path_loads_that_profile_file(tmp_path: Path) -> None:
    profile = Profile(
        model="mine",
        prefill_per_token_s=1e-4,
        decode_base_s=0.01,
        max_batch_size=2,
        max_batched_tokens=64,
        kv_capacity_tokens=512,
    )
    path = tmp_path / "mine.json"
    profile.save(path)
    assert load_profile(str(path)) == profile


@pytest.mark.parametrize("name", ["example", "example-8b-80gb"])
def test_the_example_answers_to_its_name_and_model(name: str) -> None:
    assert load_profile(name) == example_profile()


def test_every_shipped_profile_loads() -> None:
    for name in shipped_profiles():
        assert isinstance(load_profile(name), Profile)


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="one of: example"):
        load_profile("no-such-model")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(str(tmp_path / "absent.json"))
