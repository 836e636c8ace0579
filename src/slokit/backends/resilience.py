"""Keeping failing upstreams from taking the gateway down: circuit breaker and retry budget."""

from __future__ import annotations

from dataclasses import dataclass

from slokit.clock import Clock
from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """Open after ``failures`` consecutive failures; let one probe through after ``cooldown_s``."""

    failures: int = 5
    cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ConfigError(f"circuit breaker failures must be >= 1, got {self.failures}")
        if not self.cooldown_s > 0:
            raise ConfigError(f"circuit breaker cooldown must be > 0 s, got {self.cooldown_s}")


class CircuitBreaker:
    """Per-replica breaker: closed -> open (after N straight failures) -> half-open (one probe).

    While open, :meth:`allow` is false until the cooldown has passed; then exactly one request
    is let through as a probe. Its success closes the breaker, its failure opens it again.
    """

    __slots__ = ("_clock", "_config", "_failures", "_open_until_s", "_probing")

    def __init__(self, config: BreakerConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._failures = 0
        self._open_until_s: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """True while requests are kept away (open, or half-open with its probe out)."""
        if self._open_until_s is None:
            return False
        return self._probing or self._clock.now() < self._open_until_s

    def allow(self) -> bool:
        """Whether a request may go to this replica now; a half-open breaker admits one."""
        if self._open_until_s is None:
            return True
        if self._probing or self._clock.now() < self._open_until_s:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._failures = 0
        self._open_until_s = None
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._config.failures:
            self._open_until_s = self._clock.now() + self._config.cooldown_s
            self._probing = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudgetConfig:
    """Retries may add at most ``ratio`` extra load; ``initial`` retries are allowed at start."""

    ratio: float = 0.1
    initial: float = 1.0
    cap: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ConfigError(f"retry budget ratio must be in [0, 1], got {self.ratio}")
        if not 0.0 <= self.initial <= self.cap:
            raise ConfigError(
                f"retry budget initial must be in [0, cap={self.cap}], got {self.initial}"
            )


class RetryBudget:
    """A token bucket filled by requests and drained by retries.

    Each first attempt deposits ``ratio`` tokens (up to ``cap``); each retry withdraws one. Over
    any long stretch, retries <= ratio * requests + cap: with ratio 0.1 a failing upstream sees
    at most 10% extra load, however many clients retry.
    """

    __slots__ = ("_balance", "_config", "requests", "retries")

    def __init__(self, config: RetryBudgetConfig) -> None:
        self._config = config
        self._balance = config.initial
        self.requests = 0
        self.retries = 0

    def on_request(self) -> None:
        self.requests += 1
        self._balance = min(self._config.cap, self._balance + self._config.ratio)

    def try_retry(self) -> bool:
        """Withdraw one retry if the budget allows it."""
        if self._balance < 1.0:
            return False
        self._balance -= 1.0
        self.retries += 1
        return True
