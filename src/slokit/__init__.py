"""slokit: make LLM-powered software meet its throughput and latency SLOs at the lowest cost."""

__version__ = "0.1.0"

import logging

# A library logs but never configures logging: applications (and the CLI) decide where it goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
