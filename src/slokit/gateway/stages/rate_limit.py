"""Rate limit: each tenant's requests per second and tokens per minute (429 + Retry-After).

The buckets are :class:`slokit.policies.RateLimiter`'s, driven on the gateway's clock: the
same per-tenant token buckets the simulator runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from slokit.clock import Clock
from slokit.gateway.config import TenantConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.wire import CONTENT_EVENT, ApiError, prompt_size, usage_tokens
from slokit.policies import RateLimiter, TenantLimits

#: Output tokens charged for a request that sets no max_tokens.
DEFAULT_CHARGED_OUTPUT_TOKENS = 256


def tenant_limits(tenant: TenantConfig) -> TenantLimits:
    """A tenant's buckets: one second's worth of requests (at least 1) and a minute of tokens."""
    requests = tenant.requests_per_s
    tokens = tenant.tokens_per_min
    return TenantLimits(
        requests_per_s=requests,
        request_burst=None if requests is None else max(1.0, requests),
        tokens_per_s=None if tokens is None else tokens / 60.0,
        token_burst=tokens,
    )


class RateLimitStage:
    """Refuses a tenant's call beyond its configured rates.

    Tokens are charged up front from the prompt's length and ``max_tokens`` (the reply's length
    is not known yet), so a tenant never overshoots its token rate, and settled when the reply
    ends: the upstream's ``usage`` (else the prompt estimate plus the stream's content events)
    replaces the estimate, giving back what a short reply did not use. A request larger than
    the token burst is charged a full burst (it waits for a full bucket instead of never
    passing). Both buckets are taken, or neither; a refused or failed call is not refunded
    (it still cost the upstream a prompt, or was never charged).
    """

    __slots__ = ("_bursts", "_clock", "_limiter")

    def __init__(self, tenants: Sequence[TenantConfig], clock: Clock) -> None:
        self._clock = clock
        self._limiter = RateLimiter({tenant.name: tenant_limits(tenant) for tenant in tenants})
        self._bursts = {t.name: t.tokens_per_min for t in tenants if t.tokens_per_min is not None}

    async def handle(self, call: Call, forward: Handler) -> Reply:
        tenant = call.tenant
        if tenant is not None:
            burst = self._bursts.get(tenant.name)
            charge = 0.0
            if burst is not None:
                payload = call.payload
                output = payload.get("max_tokens") or payload.get("max_completion_tokens")
                charge = prompt_size(payload) + (output or DEFAULT_CHARGED_OUTPUT_TOKENS)
                charge = min(float(charge), burst)
            decision = self._limiter.check(tenant.name, charge, self._clock.now())
            if not decision.allowed:
                raise _limited(tenant.name, decision.retry_after_s)
            if burst is not None:
                reply = await forward(call)
                self._settle_later(tenant.name, call, reply, charge)
                return reply
        return await forward(call)

    def _settle_later(self, tenant: str, call: Call, reply: Reply, charged: float) -> None:
        if reply.status >= 300:
            return
        estimate = float(prompt_size(call.payload))
        if reply.chunks is None:
            prompt, output = usage_tokens(reply.body[-1024:])
            if output is not None:
                used = (estimate if prompt is None else prompt) + output
                self._limiter.settle(tenant, used - charged, self._clock.now())
            return
        settle = _StreamSettle(self, tenant, estimate, charged)
        settle.on_chunk(reply.body)
        reply.watch(on_chunk=settle.on_chunk, on_end=settle.on_end)

    def settle(self, tenant: str, tokens: float) -> None:
        self._limiter.settle(tenant, tokens, self._clock.now())


class _StreamSettle:
    """Counts a stream's tokens (its usage chunk, else content events) to settle at its end."""

    __slots__ = ("_charged", "_events", "_prompt", "_stage", "_tenant", "_usage")

    def __init__(self, stage: RateLimitStage, tenant: str, prompt: float, charged: float) -> None:
        self._stage = stage
        self._tenant = tenant
        self._prompt = prompt
        self._charged = charged
        self._events = 0
        self._usage: tuple[int | None, int | None] | None = None

    def on_chunk(self, chunk: bytes) -> None:
        self._events += len(CONTENT_EVENT.findall(chunk))
        if b'"usage"' in chunk:
            self._usage = usage_tokens(chunk)

    def on_end(self, _error: ApiError | None, _aborted: bool) -> None:  # noqa: FBT001
        prompt, output = self._usage or (None, None)
        used = (self._prompt if prompt is None else prompt) + (
            self._events if output is None else output
        )
        self._stage.settle(self._tenant, used - self._charged)


def _limited(tenant: str, wait_s: float) -> ApiError:
    return ApiError(
        429,
        f"rate limit reached for tenant {tenant!r}; retry after {wait_s:.3g} s",
        error_type="rate_limit_error",
        code="rate_limit_exceeded",
        retry_after_s=wait_s,
    )
