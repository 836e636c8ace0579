"""Structured output: requests with a JSON ``response_format`` get valid JSON or a clear outcome."""

from __future__ import annotations

from slokit.gateway.config import StructuredStageConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.telemetry import Telemetry


class StructuredStage:
    """Passes every call on unchanged (to be built: constrain, repair, re-ask)."""

    __slots__ = ("_config", "_telemetry")

    def __init__(self, config: StructuredStageConfig, telemetry: Telemetry) -> None:
        self._config = config
        self._telemetry = telemetry

    async def handle(self, call: Call, forward: Handler) -> Reply:
        return await forward(call)
