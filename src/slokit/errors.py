"""The one error hierarchy of slokit.

Third-party exceptions are translated into these at the edge where they arise::

    SlokitError
    ├── ConfigError            bad configuration or arguments; names the key and the fix
    │   └── SLOSpecError       an SLO text that does not parse or names an unknown metric
    ├── UnstableSystemError    a queueing model asked about utilisation >= 1
    ├── MissingExtraError      an optional integration is used but its extra is not installed
    └── DataError              an input file (trace, results, records) is malformed
"""

from __future__ import annotations


class SlokitError(Exception):
    """Base class of every error slokit raises on purpose."""


class ConfigError(SlokitError, ValueError):
    """Configuration or arguments that cannot be used; the message names the key and the fix."""


class SLOSpecError(ConfigError):
    """An SLO specification that does not parse."""


class UnstableSystemError(SlokitError):
    """A queueing model evaluated at utilisation >= 1, where no steady state exists."""

    def __init__(self, utilization: float, detail: str = "") -> None:
        self.utilization = utilization
        message = (
            f"unstable: utilisation {utilization:.4g} >= 1, the queue grows without bound; "
            "add replicas, shorten the service time or lower the arrival rate"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class MissingExtraError(SlokitError, ImportError):
    """An optional integration was used without its extra installed."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"this feature needs the '{extra}' extra (module '{module}' is missing): "
            f"pip install 'slokit[{extra}]'"
        )


class DataError(SlokitError, ValueError):
    """An input file or record that is malformed; the message names the file and the place."""
