"""Per-tenant rate limits: token buckets on requests per second and tokens per minute.

Nothing here sleeps or reads a clock: times come in as ``now_s`` arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from slokit.policies.scaling import check_positive


class TokenBucket:
    """``burst`` units of capacity, refilled at ``rate_per_s``; starts full.

    ``level(t) = min(burst, level(t0) + rate (t - t0))``. A request for ``n`` units is served
    when ``level >= n``; otherwise it can be in ``(n - level) / rate`` seconds (never, when
    ``n > burst``). :meth:`charge` may take the level below zero, a debt later refills repay.
    """

    __slots__ = ("_level", "_updated_s", "burst", "rate_per_s")

    def __init__(self, *, rate_per_s: float, burst: float, now_s: float = 0.0) -> None:
        check_positive(rate_per_s, "rate_per_s", "token bucket")
        check_positive(burst, "burst", "token bucket")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._level = burst
        self._updated_s = now_s

    def level(self, now_s: float) -> float:
        """Units available at ``now_s``."""
        self._refill(now_s)
        return self._level

    def wait_s(self, amount: float, now_s: float) -> float:
        """Seconds until ``amount`` units are available (0 now, ``inf`` never)."""
        if amount > self.burst:
            return math.inf
        missing = amount - self.level(now_s)
        return max(0.0, missing / self.rate_per_s)

    def take(self, amount: float, now_s: float) -> bool:
        """Take ``amount`` units if available."""
        if self.wait_s(amount, now_s) > 0:
            return False
        self._level -= amount
        return True

    def charge(self, amount: float, now_s: float) -> None:
        """Take ``amount`` units unconditionally (negative ``amount`` gives them back)."""
        self._refill(now_s)
        self._level = min(self.burst, self._level - amount)

    def _refill(self, now_s: float) -> None:
        elapsed_s = now_s - self._updated_s
        if elapsed_s > 0:
            self._level = min(self.burst, self._level + elapsed_s * self.rate_per_s)
            self._updated_s = now_s


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantLimits:
    """Per-tenant rates: ``None`` leaves that dimension unlimited; a burst defaults to 1 s."""

    requests_per_s: float | None = None
    request_burst: float | None = None
    tokens_per_s: float | None = None
    token_burst: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_s", "request_burst", "tokens_per_s", "token_burst"):
            value = getattr(self, name)
            if value is not None:
                check_positive(value, name, "tenant limits")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateDecision:
    """Whether the tenant may send now; if not, when it could."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter:
    """Per-tenant token buckets on requests/s and tokens/s, both or neither taken.

    A request of ``n`` tokens (prompt + the output it asks for) is allowed when the request
    bucket holds 1 and the token bucket holds ``n``; otherwise ``retry_after_s`` is the
    longer of the two waits. Tenants not in ``limits`` get ``default``.
    """

    __slots__ = ("_buckets", "default", "limits")

    def __init__(
        self,
        limits: Mapping[str, TenantLimits] | None = None,
        *,
        default: TenantLimits | None = None,
    ) -> None:
        self.limits = dict(limits or {})
        self.default = default if default is not None else TenantLimits()
        self._buckets: dict[str, tuple[TokenBucket | None, TokenBucket | None]] = {}

    def check(self, tenant: str, tokens: float, now_s: float) -> RateDecision:
        """Take one request and ``tokens`` tokens from ``tenant``'s buckets if both allow."""
        requests, token_bucket = self._for(tenant, now_s)
        wait_s = 0.0
        if requests is not None:
            wait_s = requests.wait_s(1.0, now_s)
        if token_bucket is not None:
            wait_s = max(wait_s, token_bucket.wait_s(tokens, now_s))
        if wait_s > 0:
            return RateDecision(allowed=False, retry_after_s=wait_s)
        if requests is not None:
            requests.charge(1.0, now_s)
        if token_bucket is not None:
            token_bucket.charge(tokens, now_s)
        return RateDecision(allowed=True)

    def settle(self, tenant: str, tokens: float, now_s: float) -> None:
        """Correct the token count once known (``tokens``: actual less what was taken)."""
        _, token_bucket = self._for(tenant, now_s)
        if token_bucket is not None:
            token_bucket.charge(tokens, now_s)

    def _for(self, tenant: str, now_s: float) -> tuple[TokenBucket | None, TokenBucket | None]:
        buckets = self._buckets.get(tenant)
        if buckets is None:
            limits = self.limits.get(tenant, self.default)
            buckets = (
                _bucket(limits.requests_per_s, limits.request_burst, now_s),
                _bucket(limits.tokens_per_s, limits.token_burst, now_s),
            )
            self._buckets[tenant] = buckets
        return buckets


def _bucket(rate_per_s: float | None, burst: float | None, now_s: float) -> TokenBucket | None:
    if rate_per_s is None:
        return None
    return TokenBucket(
        rate_per_s=rate_per_s, burst=burst if burst is not None else rate_per_s, now_s=now_s
    )
