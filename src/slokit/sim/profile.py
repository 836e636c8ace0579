"""The serving profile: what one replica of a model costs in time, memory and money.

A profile is the calibratable half of the simulator: fit its coefficients to a real endpoint and
the simulator predicts, and the emulator behaves like, that endpoint. It is stored as flat JSON.

Keys (times in seconds, sizes in tokens):

==============================  =========  ====================================================
key                             default    meaning
==============================  =========  ====================================================
``model``                       required   model name, for reports
``prefill_base_s``              0          fixed cost of an iteration that prefills anything
``prefill_per_token_s``         required   cost per prefilled token
``prefill_per_token2_s``        0          quadratic (attention) cost per prefilled token squared
``decode_base_s``               required   fixed cost of a decode step (weights read once)
``decode_per_seq_s``            0          decode step cost per sequence in the batch
``decode_per_context_token_s``  0          decode step cost per context token in the batch
``max_batch_size``              required   most sequences in one iteration (running + prefilling)
``max_batched_tokens``          required   most tokens in one iteration, prefill + decode
``chunked_prefill``             true       split prompts to fill the iteration's token budget
``kv_capacity_tokens``          required   KV-cache size, in tokens of context
``kv_block_tokens``             16         KV allocation granularity (a sequence holds whole blocks)
``preemption``                  recompute  ``recompute`` or ``queue``, what to do when KV is full
``prefix_cache``                false      reuse the KV of a prefix group already seen here
``cold_start_s``                0          time from adding a replica until it serves
``price_per_hour``              0          what one replica costs per hour
==============================  =========  ====================================================

Formulas, for ``T`` prefilled tokens and a decode batch of ``n`` sequences holding ``C`` context
tokens in total::

    prefill_s(T) = prefill_base_s + prefill_per_token_s * T + prefill_per_token2_s * T**2
    decode_step_s(n, C) = decode_base_s + decode_per_seq_s * n + decode_per_context_token_s * C

The quadratic term of a prompt split into chunks is charged so that the chunks add up to the
unsplit prompt: a chunk of ``c`` tokens after ``p`` already in the KV cache costs
``prefill_per_token2_s * ((p + c)**2 - p**2)``.

``preemption``: with ``queue`` a sequence is admitted only when the blocks for its whole prompt
and output are free, so running sequences never run out of KV; with ``recompute`` it is
admitted when its prompt fits, and when a decode step would overflow the newest running
sequence is evicted and later recomputed from its prompt plus the tokens already generated
(vLLM's recompute preemption).

``prefix_cache``: a request whose prefix group was already prefilled on this replica skips the
prefill of its prefix tokens (whole blocks only). Groups are kept least-recently-used within
``kv_capacity_tokens``; cached blocks are not charged to running sequences, since an
unreferenced cached block is reclaimed on demand.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slokit.errors import ConfigError

#: Version of the profile JSON layout.
PROFILE_VERSION = 1

Preemption = Literal["recompute", "queue"]
_PREEMPTIONS = ("recompute", "queue")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Timing, capacity and price of one replica; see the module docstring for each key."""

    model: str
    prefill_per_token_s: float
    decode_base_s: float
    max_batch_size: int
    max_batched_tokens: int
    kv_capacity_tokens: int
    prefill_base_s: float = 0.0
    prefill_per_token2_s: float = 0.0
    decode_per_seq_s: float = 0.0
    decode_per_context_token_s: float = 0.0
    chunked_prefill: bool = True
    kv_block_tokens: int = 16
    preemption: Preemption = "recompute"
    prefix_cache: bool = False
    cold_start_s: float = 0.0
    price_per_hour: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("profile: 'model' must be a non-empty name, e.g. \"llama-3.1-8b\"")
        self._check_times()
        self._check_sizes()
        if self.preemption not in _PREEMPTIONS:
            raise ConfigError(
                f"profile: 'preemption' must be one of {_PREEMPTIONS}, got {self.preemption!r}"
            )
        for name in ("chunked_prefill", "prefix_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"profile: {name!r} must be true or false")

    def _check_times(self) -> None:
        for name in (
            "prefill_base_s",
            "prefill_per_token_s",
            "prefill_per_token2_s",
            "decode_base_s",
            "decode_per_seq_s",
            "decode_per_context_token_s",
            "cold_start_s",
            "price_per_hour",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"profile: {name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"profile: {name!r} must be finite and >= 0, got {value!r}")
        if self.decode_base_s + self.decode_per_seq_s <= 0:
            raise ConfigError(
                "profile: a decode step must take time: set 'decode_base_s' or "
                "'decode_per_seq_s' > 0"
            )

    def _check_sizes(self) -> None:
        for name in ("max_batch_size", "max_batched_tokens", "kv_capacity_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"profile: {name!r} must be an integer >= 1, got {value!r}")
        if self.max_batched_tokens < self.max_batch_size:
            raise ConfigError(
                f"profile: 'max_batched_tokens' ({self.max_batched_tokens}) must be >= "
                f"'max_batch_size' ({self.max_batch_size}) so every running sequence can "
                "decode in each iteration; raise 'max_batched_tokens'"
            )
        block = self.kv_block_tokens
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise ConfigError(f"profile: 'kv_block_tokens' must be an integer >= 1, got {block!r}")
        if self.kv_capacity_tokens < block:
            raise ConfigError(
                f"profile: 'kv_capacity_tokens' ({self.kv_capacity_tokens}) must hold at least "
                f"one block of 'kv_block_tokens' ({block})"
            )

    @property
    def kv_capacity_blocks(self) -> int:
        """Whole KV blocks available: ``kv_capacity_tokens // kv_block_tokens``."""
        return self.kv_capacity_tokens // self.kv_block_tokens

    def prefill_time_s(self, tokens: int) -> float:
        """``prefill_base_s + prefill_per_token_s * T + prefill_per_token2_s * T**2`` (0 if T=0)."""
        if tokens <= 0:
            return 0.0
        return (
            self.prefill_base_s
            + self.prefill_per_token_s * tokens
            + self.prefill_per_token2_s * tokens * tokens
        )

    def decode_step_time_s(self, batch_size: int, context_tokens: int) -> float:
        """``decode_base_s + decode_per_seq_s * n + decode_per_context_token_s * C`` (0 if n=0)."""
        if batch_size <= 0:
            return 0.0
        return (
            self.decode_base_s
            + self.decode_per_seq_s * batch_size
            + self.decode_per_context_token_s * context_tokens
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every key, with the layout version."""
        return {"version": PROFILE_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> Profile:
        """Build a profile from a decoded JSON object; :class:`ConfigError` names a bad key."""
        if not isinstance(data, dict):
            raise ConfigError('profile: expected a JSON object of keys, e.g. {"model": ...}')
        known = {f.name for f in dataclasses.fields(cls)}
        fields = dict(data)
        version = fields.pop("version", PROFILE_VERSION)
        if version != PROFILE_VERSION:
            raise ConfigError(
                f"profile: 'version' {version!r} is not supported; this slokit reads "
                f"version {PROFILE_VERSION}"
            )
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConfigError(
                f"profile: unknown key {unknown[0]!r}; known keys are {', '.join(sorted(known))}"
            )
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(fields))
        if missing:
            raise ConfigError(f"profile: missing key {missing[0]!r}; add it (see the key table)")
        for name in ("max_batch_size", "max_batched_tokens", "kv_capacity_tokens"):
            # JSON writers sometimes emit 256.0; accept integral floats, refuse 256.5.
            value = fields.get(name)
            if isinstance(value, float) and value.is_integer():
                fields[name] = int(value)
        return cls(**fields)

    @classmethod
    def load(cls, path: Path) -> Profile:
        """Read a profile JSON file; a missing or unparsable file is a :class:`ConfigError`."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"profile: cannot read {path}: {error.strerror}") from error
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"profile: {path} is not valid JSON (line {error.lineno}: {error.msg})"
            ) from error
        try:
            return cls.from_json(data)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from error

    def save(self, path: Path) -> None:
        """Write this profile as indented JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def example_profile() -> Profile:
    """A GPU-like profile: an 8B-parameter model in 16-bit weights on one 80 GB accelerator.

    Rough, first-principles figures, meant for examples and benchmarks, not for planning:
    decode reads the 16 GB of weights once per step (about 6 ms at 3 TB/s) plus about 128 kB of
    KV per context token; prefill runs at about 30k tokens/s; about 40 GB is left for KV.
    """
    return Profile(
        model="example-8b-80gb",
        prefill_base_s=0.004,
        prefill_per_token_s=3.3e-5,
        prefill_per_token2_s=6.5e-10,
        decode_base_s=0.006,
        decode_per_seq_s=3.0e-5,
        decode_per_context_token_s=4.0e-8,
        max_batch_size=256,
        max_batched_tokens=8192,
        chunked_prefill=True,
        kv_capacity_tokens=300_000,
        kv_block_tokens=16,
        preemption="recompute",
        prefix_cache=True,
        cold_start_s=60.0,
        price_per_hour=3.0,
    )
