"""One record, one report: per-request records and the results files every producer writes."""

from slokit.results.files import (
    REQUESTS_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    RecordWriter,
    Run,
    iter_records,
    load_results,
    load_run,
    write_json_atomic,
)
from slokit.results.record import TIMEOUT_ERROR, RequestRecord

__all__ = [
    "REQUESTS_FILE",
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "TIMEOUT_ERROR",
    "RecordWriter",
    "RequestRecord",
    "Run",
    "iter_records",
    "load_results",
    "load_run",
    "write_json_atomic",
]
