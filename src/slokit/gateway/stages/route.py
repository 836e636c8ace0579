"""Route: requests for a routed alias (``model: "auto"``) go to the model a trained router picks.

The router (``slokit route train``) scores the request's prompt; the call's model becomes the
picked one before admission, which limits per model, and the backend sends it under that
model's upstream name. The decision lands in the request log (``route``, ``route_model``,
``route_score``), in ``/metrics`` (``slokit_gateway_routed``, ``slokit_gateway_route_seconds``)
and in the response headers ``x-slokit-route`` and ``x-slokit-route-score``.

A router whose scoring is slow (a MiniLM forward pass: tens of milliseconds on a CPU) runs in
a worker thread, concurrent requests in one batch (:class:`BatchCaller`), so it never stalls
the event loop and load makes batches, not queues. A fast one (the static embedder: a fraction
of a millisecond) runs inline: a thread hand-off would cost more than the scoring itself
(on the loaded two-core machine, p99 5.4 ms through a thread against ~1 ms inline,
benchmarks/routing_gateway.py). Which one is measured: the first calls go to the thread, and
once the mean scoring time is below ``INLINE_BELOW_S`` the route scores inline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from slokit.batching import BatchCaller
from slokit.embedding import serving_threads
from slokit.errors import ConfigError
from slokit.gateway.config import GatewayConfig, ModelConfig, RouteConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.telemetry import Telemetry
from slokit.routing import DifficultyRouter, RouteDecision, load_router

#: Routers that score one prompt faster than this on average run on the event loop.
INLINE_BELOW_S = 0.002
_SAMPLES = 8


class _Route:
    """One alias: its router, its models by the router's names, and its metrics."""

    __slots__ = ("config", "inline", "models", "router", "scorer", "seconds", "timings")

    def __init__(
        self,
        config: RouteConfig,
        router: DifficultyRouter,
        models: Mapping[str, ModelConfig],
        telemetry: Telemetry,
    ) -> None:
        self.config = config
        self.router = router
        self.models = models
        self.scorer: BatchCaller[str, RouteDecision] = BatchCaller(self._timed)
        self.seconds = telemetry.route_seconds.labels(config.name)
        self.inline = False
        self.timings: list[float] = []

    def _timed(self, prompts: list[str]) -> list[RouteDecision]:
        """Score a batch in the worker thread, timing it per prompt to decide on inlining."""
        start_s = time.perf_counter()
        decisions = self.router.route_many(prompts)
        self.timings.append((time.perf_counter() - start_s) / len(prompts))
        if len(self.timings) >= _SAMPLES:
            self.inline = sum(self.timings) / len(self.timings) < INLINE_BELOW_S
            self.timings.clear()
        return decisions

    async def decide(self, prompt: str) -> RouteDecision:
        if self.inline:
            return self.router.route(prompt)
        return await self.scorer.call(prompt)


class RouteStage:
    """Resolves routed aliases; calls for plain models pass straight on."""

    __slots__ = ("_routes", "_telemetry")

    def __init__(
        self,
        routes: Sequence[tuple[RouteConfig, DifficultyRouter]],
        models: Mapping[str, ModelConfig],
        telemetry: Telemetry,
    ) -> None:
        self._telemetry = telemetry
        self._routes: dict[str, _Route] = {}
        for config, router in routes:
            by_router_name = {}
            for name in (model.name for model in router.spec.models):
                target = config.gateway_model(name)
                if target not in models:
                    raise ConfigError(
                        f"routes.{config.name}: the router picks {name!r}, which is no model "
                        f"under models; map it with routes.{config.name}.models.{name}"
                    )
                by_router_name[name] = models[target]
            self._routes[config.name] = _Route(config, router, by_router_name, telemetry)

    @classmethod
    def from_config(cls, config: GatewayConfig, telemetry: Telemetry) -> RouteStage:
        """Load each alias's router file (its embedder too: the first request is not slow)."""
        models = {model.name: model for model in config.models}
        routes = []
        for route in config.routes:
            router = load_router(route.router)
            serving_threads()
            if route.tradeoff is not None:
                spec = replace(router.spec, tradeoff=route.tradeoff)
                router = DifficultyRouter(router.embedder, router.model, spec)
            routes.append((route, router))
        return cls(routes, models, telemetry)

    async def handle(self, call: Call, forward: Handler) -> Reply:
        route = self._routes.get(call.requested_model)
        if route is None:
            return await forward(call)
        prompt = prompt_text(call.payload)
        if prompt is None:
            call.annotations["route"] = route.config.name
            call.annotations["route_model"] = call.model.name
            return await forward(call)
        start_s = time.perf_counter()
        decision = await route.decide(prompt)
        elapsed_s = time.perf_counter() - start_s
        route.seconds.observe(elapsed_s)
        call.annotations["route_s"] = round(elapsed_s, 6)
        model = route.models[decision.model]
        call.model = model
        self._telemetry.routed.labels(route.config.name, model.name).inc()
        call.annotations["route"] = route.config.name
        call.annotations["route_model"] = model.name
        call.annotations["route_score"] = round(decision.score, 6)
        call.response_headers.append((b"x-slokit-route", model.name.encode()))
        call.response_headers.append((b"x-slokit-route-score", f"{decision.score:.6f}".encode()))
        return await forward(call)


def prompt_text(payload: Mapping[str, Any]) -> str | None:
    """What the router scores: the last user turn of a chat, or a completion's prompt."""
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _content_text(message.get("content"))
        return None
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        return prompt or None
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt) or None
    return None


def _content_text(content: object) -> str | None:
    if isinstance(content, str):
        return content or None
    if isinstance(content, list):  # content parts: keep the text ones
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts) or None
    return None
