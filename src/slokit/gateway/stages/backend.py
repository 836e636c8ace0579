"""Backend: the pipeline's last step; picks a replica, fails over, and sends the call upstream.

Replica choice is the simulator's balancer, over the replicas whose circuit is closed:
:class:`slokit.policies.LeastOutstandingBalancer` (outstanding requests per unit of weight,
ties rotating), or per model :class:`slokit.policies.PrefixAffinityBalancer` keyed on the
prompt's first characters (requests sharing a prefix meet the replica that cached it). A
replica that refuses the connection is skipped at no cost (the call never reached it); a call
that reached an upstream and failed before its first byte is sent again only while the retry
budget allows (at most ``ratio`` extra load) and ``max_attempts`` is not used up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from slokit.backends.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from slokit.backends.resilience import CircuitBreaker, RetryBudget
from slokit.gateway.config import ModelConfig
from slokit.gateway.pipeline import Call, Reply
from slokit.gateway.upstream import Backend
from slokit.gateway.wire import UPSTREAM_PATHS, ApiError
from slokit.policies import (
    Balancer,
    LeastOutstandingBalancer,
    PrefixAffinityBalancer,
    PrefixAffinityConfig,
)


class Replica:
    """A backend with its load and health: outstanding calls, weight, circuit breaker."""

    __slots__ = ("backend", "breaker", "outstanding", "upstream_model", "weight")

    def __init__(
        self,
        backend: Backend,
        breaker: CircuitBreaker,
        *,
        weight: float = 1.0,
        upstream_model: str | None = None,
    ) -> None:
        self.backend = backend
        self.breaker = breaker
        self.weight = weight
        self.upstream_model = upstream_model
        self.outstanding = 0

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def replica_id(self) -> str:
        return self.backend.name

    @property
    def outstanding_requests(self) -> int:
        return self.outstanding


def choose_replica(
    replicas: Sequence[Replica], tried: set[int], balancer: Balancer, key: str | None = None
) -> int | None:
    """Index of the replica ``balancer`` picks among the untried, closed-circuit ones."""
    ready = [
        i for i, replica in enumerate(replicas) if i not in tried and not replica.breaker.is_open
    ]
    if not ready:
        return None
    return ready[balancer.choose([replicas[i] for i in ready], key, 0.0)]


def affinity_key(payload: Mapping[str, Any], chars: int) -> str | None:
    """The prompt's first ``chars`` characters, messages' roles and texts in order."""
    messages = payload.get("messages")
    if isinstance(messages, list):
        parts, size = [], 0
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            text = content if isinstance(content, str) else orjson.dumps(content).decode()
            parts.append(f"{message.get('role')}:{text}")
            size += len(parts[-1])
            if size >= chars:
                break
        return "\n".join(parts)[:chars] or None
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        return prompt[:chars] or None
    return None


class BackendStage:
    """Sends each call to one of its model's replicas; the terminal handler of the pipeline."""

    __slots__ = ("_affinity", "_balancer", "_balancers", "_budget", "_max_attempts", "_replicas")

    def __init__(
        self,
        replicas: Mapping[str, Sequence[Replica]],
        budget: RetryBudget,
        *,
        max_attempts: int,
        models: Sequence[ModelConfig] = (),
    ) -> None:
        self._replicas = replicas
        self._budget = budget
        self._max_attempts = max_attempts
        self._balancer: Balancer = LeastOutstandingBalancer()
        self._balancers: dict[str, Balancer] = {}
        self._affinity: dict[str, int] = {}
        for model in models:
            if model.balancing == "prefix_affinity":
                config = PrefixAffinityConfig(load_factor=model.affinity_load_factor)
                self._balancers[model.name] = PrefixAffinityBalancer(config)
                self._affinity[model.name] = model.affinity_prefix_chars

    def replicas(self, model: str) -> Sequence[Replica]:
        return self._replicas.get(model, ())

    async def __call__(self, call: Call) -> Reply:
        replicas = self._replicas[call.model.name]
        path = UPSTREAM_PATHS[call.endpoint]
        budget = self._budget
        budget.on_request()
        tried: set[int] = set()
        attempts = 0
        last_error: UpstreamError | None = None
        name = call.model.name
        balancer = self._balancers.get(name, self._balancer)
        chars = self._affinity.get(name)
        key = None if chars is None else affinity_key(call.payload, chars)
        while (index := choose_replica(replicas, tried, balancer, key)) is not None:
            tried.add(index)
            replica = replicas[index]
            if not replica.breaker.allow():
                continue
            replica.outstanding += 1
            try:
                upstream = await replica.backend.send(
                    path, _body_for(call, replica), stream=call.stream
                )
            except UpstreamError as error:
                replica.outstanding -= 1
                replica.breaker.failure()
                last_error = error
                if not error.retryable:
                    break
                if error.sent:
                    attempts += 1
                    if attempts >= self._max_attempts or not budget.try_retry():
                        break
                continue
            replica.breaker.success()
            call.replica = replica.name
            if not upstream.streaming:
                replica.outstanding -= 1
                return Reply(
                    status=upstream.status, content_type=upstream.content_type, body=upstream.body
                )
            # The upstream's own generator goes out as it is: no generator of this stage's
            # around it to resume per chunk; its errors and end come back through hooks.
            ending = _StreamEnd(replica)
            reply = Reply(
                status=upstream.status,
                content_type=upstream.content_type,
                body=upstream.body,
                chunks=upstream.chunks(),
                close=upstream.close,
                map_error=ending.map_error,
            )
            reply.watch(on_end=ending.on_end)
            return reply
        if last_error is None:
            last_error = UpstreamUnavailableError(
                f"no replica of model {call.model.name!r} is available (circuits open)",
                replica="",
                sent=False,
            )
        raise upstream_api_error(last_error)


def _body_for(call: Call, replica: Replica) -> bytes:
    upstream_model = replica.upstream_model
    if upstream_model is None or upstream_model == call.payload["model"]:
        return call.body
    return orjson.dumps({**call.payload, "model": upstream_model})


class _StreamEnd:
    """A stream's replica bookkeeping: its failure opens the circuit's count, its end frees it."""

    __slots__ = ("_replica",)

    def __init__(self, replica: Replica) -> None:
        self._replica = replica

    def map_error(self, error: Exception) -> ApiError | None:
        if isinstance(error, UpstreamError):
            self._replica.breaker.failure()
            return upstream_api_error(error)
        return error if isinstance(error, ApiError) else None

    def on_end(self, _error: ApiError | None, _aborted: bool) -> None:  # noqa: FBT001
        self._replica.outstanding -= 1


def upstream_api_error(error: UpstreamError) -> ApiError:
    """The client-facing error of an upstream failure: status by kind, no upstream details."""
    if isinstance(error, UpstreamTimeoutError):
        code = "upstream_timeout"
    elif isinstance(error, UpstreamUnavailableError):
        code = "upstream_unavailable"
    else:
        code = "upstream_error"
    return ApiError(error.status, str(error), error_type="api_error", code=code)
