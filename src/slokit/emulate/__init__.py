"""An OpenAI-compatible server whose replies follow a controllable token timing."""

from slokit.emulate.engine import PacedEngine, ServingModel, TokenEngine, TokenSink
from slokit.emulate.model import ModelEngine, ProfileTiming
from slokit.emulate.process import run_emulator_process
from slokit.emulate.server import EmulatorConfig, RunningEmulator, serve_emulator
from slokit.emulate.stats import EmulatorStats
from slokit.emulate.timing import DEFAULT_OUTPUT_TOKENS, FixedTiming, TimingRequest, TokenTiming

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "EmulatorConfig",
    "EmulatorStats",
    "FixedTiming",
    "ModelEngine",
    "PacedEngine",
    "ProfileTiming",
    "RunningEmulator",
    "ServingModel",
    "TimingRequest",
    "TokenEngine",
    "TokenSink",
    "TokenTiming",
    "run_emulator_process",
    "serve_emulator",
]
