"""An OpenAI-compatible server whose replies follow a controllable token timing."""

from slokit.emulate.process import run_emulator_process
from slokit.emulate.server import (
    EmulatorConfig,
    EmulatorStats,
    RunningEmulator,
    serve_emulator,
)
from slokit.emulate.timing import DEFAULT_OUTPUT_TOKENS, FixedTiming, TimingRequest, TokenTiming

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "EmulatorConfig",
    "EmulatorStats",
    "FixedTiming",
    "RunningEmulator",
    "TimingRequest",
    "TokenTiming",
    "run_emulator_process",
    "serve_emulator",
]
