"""slokit: make LLM-powered software meet its throughput and latency SLOs at the lowest cost."""

__version__ = "0.1.0"
