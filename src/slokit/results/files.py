"""Reading and writing a run's files: ``results.json`` (summary) and ``requests.jsonl`` (records).

Crash safety: ``results.json`` is written to a temporary file in the same directory, flushed,
fsynced and renamed over the target, so a reader sees either the old or the new file, never a
torn one. ``requests.jsonl`` is appended one line per record and flushed as it goes; a kill
can leave at most a partial last line, which the reader skips (and reports) instead of failing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import orjson

from slokit.errors import DataError
from slokit.results.record import RequestRecord

#: Version of the results.json layout; bumped on any incompatible change.
SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
REQUESTS_FILE = "requests.jsonl"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty JSON to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class RecordWriter:
    """Appends records to a JSON Lines file, one line per record, buffered until :meth:`flush`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[bytes] = path.open("wb")
        self.count = 0

    def write(self, record: RequestRecord) -> None:
        self._handle.write(orjson.dumps(record.to_json()) + b"\n")
        self.count += 1

    def write_all(self, records: Iterable[RequestRecord]) -> None:
        for record in records:
            self.write(record)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def iter_records(path: Path) -> Iterator[RequestRecord]:
    """Records of a JSON Lines file, read line by line; a torn last line is skipped.

    Every complete line ends with a newline, so a line without one can only be the tail of an
    interrupted write: it is ignored if it does not parse. A complete line that does not parse
    is an error naming the file and line.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise DataError(f"cannot read request records '{path}': {error.strerror}") from error
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                if not line.endswith(b"\n"):
                    return  # a partial final line from an interrupted writer
                raise DataError(f"{path}:{number}: not valid JSON ({error})") from error
            if not isinstance(data, dict):
                raise DataError(f"{path}:{number}: expected a JSON object per line")
            yield RequestRecord.from_json(data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A run read back from disk: its results document and its request records."""

    path: Path
    results: dict[str, Any]
    records: tuple[RequestRecord, ...]

    @property
    def summary(self) -> dict[str, Any]:
        summary = self.results.get("summary", {})
        return summary if isinstance(summary, dict) else {}


def load_results(path: Path) -> dict[str, Any]:
    """The results document at ``path`` (a results.json file or the directory holding it)."""
    file = path / RESULTS_FILE if path.is_dir() else path
    try:
        data = orjson.loads(file.read_bytes())
    except OSError as error:
        raise DataError(f"cannot read results file '{file}': {error.strerror}") from error
    except orjson.JSONDecodeError as error:
        raise DataError(f"results file '{file}' is not valid JSON: {error}") from error
    if not isinstance(data, dict) or "schema_version" not in data:
        raise DataError(f"'{file}' is not a slokit results file (no schema_version)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise DataError(
            f"'{file}' has results schema {data['schema_version']}, this slokit reads "
            f"{SCHEMA_VERSION}; re-run it with this version"
        )
    return data


def load_run(path: Path) -> Run:
    """Results and records of a run; records come from the file the results name."""
    file = path / RESULTS_FILE if path.is_dir() else path
    results = load_results(file)
    records_name = results.get("requests_file", REQUESTS_FILE)
    records = tuple(iter_records(file.parent / str(records_name)))
    return Run(path=file, results=results, records=records)
