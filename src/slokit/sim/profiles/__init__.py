"""Profiles shipped with slokit, loadable by name: measured ones and GPU examples with sources.

Each ``<name>.json`` here is a profile (see :mod:`slokit.sim.profile`) plus two keys that say
where its figures come from: ``description`` (one line) and ``sources`` (a list of strings:
references, or the command and machine of a measurement). :func:`load_profile` reads a shipped
name or any profile file; :func:`profile_info` returns the description and sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from slokit.errors import ConfigError
from slokit.sim.profile import Profile, example_profile

#: The built-in example profile answers to this name (and to its model name).
EXAMPLE_NAME = "example"

#: Keys of a shipped profile file that describe it rather than the replica.
METADATA_KEYS = ("description", "sources")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileInfo:
    """What a profile file says about itself."""

    name: str
    description: str
    sources: tuple[str, ...]


def shipped_profiles() -> tuple[str, ...]:
    """Names of the shipped profiles, sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".json")
            for entry in resources.files(__name__).iterdir()
            if entry.name.endswith(".json") and entry.is_file()
        )
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """The profile shipped under ``name_or_path``, or the profile file at that path.

    A string without a path separator or ``.json`` suffix is a shipped name, or ``example`` for
    the built-in example. :class:`ConfigError` names the profiles there are when nothing matches.
    """
    example = example_profile()
    if isinstance(name_or_path, str) and name_or_path in (EXAMPLE_NAME, example.model):
        return example
    data, origin = _read(name_or_path)
    fields = {key: value for key, value in data.items() if key not in METADATA_KEYS}
    try:
        return Profile.from_json(fields)
    except ConfigError as error:
        raise ConfigError(f"{origin}: {error}") from error


def profile_info(name_or_path: str | Path) -> ProfileInfo:
    """The description and sources of a shipped profile or a profile file (empty if none)."""
    data, origin = _read(name_or_path)
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{origin}: 'sources' must be a list of strings")
    return ProfileInfo(
        name=Path(str(name_or_path)).name.removesuffix(".json"),
        description=str(data.get("description", "")),
        sources=tuple(sources),
    )


def _read(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".json"):
        path = Path(name_or_path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"profile: cannot read {path}: {error.strerror}") from error
        origin = str(path)
    elif text in shipped_profiles():
        raw = resources.files(__name__).joinpath(f"{text}.json").read_text(encoding="utf-8")
        origin = f"shipped profile {text!r}"
    else:
        raise ConfigError(
            f"--profile: no shipped profile named {text!r}; give a profile JSON file or one "
            f"of: {', '.join([EXAMPLE_NAME, *shipped_profiles()])}"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{origin} is not valid JSON (line {error.lineno}: {error.msg})"
        ) from error
    if not isinstance(data, dict):
        raise ConfigError(f'{origin}: expected a JSON object of keys, e.g. {{"model": ...}}')
    return data, origin
