"""Request traces: arrival times and token counts loaded from CSV or JSONL files.

A trace has up to three columns, each found under any of its accepted names (case-insensitive):

==================  =========================================================================
column              accepted names
==================  =========================================================================
``arrival_s``       arrived_at, arrival_s, arrival_time, timestamp, time_s, time
``prompt_tokens``   num_prefill_tokens, prompt_tokens, input_tokens, num_prompt_tokens,
                    prompt_len, input_len, context_tokens
``output_tokens``   num_decode_tokens, output_tokens, completion_tokens, num_output_tokens,
                    generated_tokens, output_len
==================  =========================================================================

Arrival times are numbers in seconds, non-decreasing down the file (any origin: replay measures
from the first row). Token counts are integers >= 0. Other columns are ignored, so a
length-only file such as the arXiv summarisation statistics loads as a trace without times.
Files ending in ``.jsonl``, ``.ndjson`` or ``.json`` hold one JSON object per line; any other
file is CSV with a header row.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError, DataError

ARRIVAL = "arrival_s"
PROMPT = "prompt_tokens"
OUTPUT = "output_tokens"

#: Accepted names of each trace column, in order of preference.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    ARRIVAL: ("arrived_at", "arrival_s", "arrival_time", "timestamp", "time_s", "time"),
    PROMPT: (
        "num_prefill_tokens", "prompt_tokens", "input_tokens", "num_prompt_tokens",
        "prompt_len", "input_len", "context_tokens",
    ),
    OUTPUT: (
        "num_decode_tokens", "output_tokens", "completion_tokens", "num_output_tokens",
        "generated_tokens", "output_len",
    ),
}  # fmt: skip
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def canonical_column(name: str) -> str | None:
    """The trace column that ``name`` (a canonical name or an alias) stands for, if any."""
    lowered = name.strip().lower()
    for column, aliases in COLUMN_ALIASES.items():
        if lowered == column or lowered in aliases:
            return column
    return None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Trace:
    """The columns of a trace file, row-aligned; a column the file lacks is ``None``."""

    source: str
    arrival_s: FloatArray | None = None
    prompt_tokens: IntArray | None = None
    output_tokens: IntArray | None = None

    def __post_init__(self) -> None:
        lengths = {
            len(c)
            for c in (self.arrival_s, self.prompt_tokens, self.output_tokens)
            if c is not None
        }
        if not lengths:
            raise ConfigError(
                f"trace {self.source}: has none of the columns {list(COLUMN_ALIASES)}"
            )
        if len(lengths) != 1:
            raise ConfigError(f"trace {self.source}: columns differ in length {sorted(lengths)}")
        # Private read-only copies: a trace is shared by configs that must not see it change.
        for name, dtype in (("arrival_s", np.float64), ("prompt_tokens", np.int64),
                            ("output_tokens", np.int64)):  # fmt: skip
            array = getattr(self, name)
            if array is not None:
                array = np.array(array, dtype=dtype)
                array.flags.writeable = False
                object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(next(c for c in self.columns().values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        mine, theirs = self.columns(), other.columns()
        return (
            self.source == other.source
            and mine.keys() == theirs.keys()
            and all(np.array_equal(mine[name], theirs[name]) for name in mine)
        )

    def __hash__(self) -> int:
        return hash((self.source, len(self)))

    def __repr__(self) -> str:
        return f"Trace(source={self.source!r}, rows={len(self)}, columns={list(self.columns())})"

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        """The columns present, by canonical name."""
        present = {ARRIVAL: self.arrival_s, PROMPT: self.prompt_tokens, OUTPUT: self.output_tokens}
        return {name: array for name, array in present.items() if array is not None}

    def token_column(self, name: str) -> IntArray:
        """The token column named ``name`` (or an alias); :class:`ConfigError` if absent."""
        column = canonical_column(name)
        array = {PROMPT: self.prompt_tokens, OUTPUT: self.output_tokens}.get(column or "")
        if array is None:
            raise ConfigError(
                f"trace {self.source}: no token column '{name}'; "
                f"use one of {[c for c in self.columns() if c != ARRIVAL]}"
            )
        return array

    def require_arrivals(self) -> FloatArray:
        """The arrival times; :class:`ConfigError` if the trace has none."""
        if self.arrival_s is None:
            raise ConfigError(
                f"trace {self.source}: has no arrival-time column (accepted names: "
                f"{', '.join(COLUMN_ALIASES[ARRIVAL])}); use it for token counts only"
            )
        return self.arrival_s

    @property
    def duration_s(self) -> float:
        """Time from the first to the last arrival."""
        arrivals = self.require_arrivals()
        return float(arrivals[-1] - arrivals[0])

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate: ``(rows - 1) / (last arrival - first arrival)``."""
        if len(self) < 2 or self.duration_s <= 0:
            raise ConfigError(f"trace {self.source}: needs two distinct arrival times for a rate")
        return (len(self) - 1) / self.duration_s


def load_trace(path: str | Path) -> Trace:
    """Load a CSV or JSONL trace; :class:`DataError` names the file and line of a bad row."""
    path = Path(path)
    try:
        if path.suffix.lower() in _JSONL_SUFFIXES:
            return _load_jsonl(path)
        return _load_csv(path)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read trace file '{path}': {error}; check the path") from error


def _map_header(path: Path, header: list[str]) -> dict[str, int]:
    """Column name -> index in the row, for the columns the header has."""
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        column = canonical_column(name)
        if column is None:
            continue
        if column in found:
            raise DataError(
                f"{path}:1: both '{header[found[column]]}' and '{name}' name the {column} "
                "column; keep one"
            )
        found[column] = index
    if not found:
        raise DataError(
            f"{path}:1: no known column in header {header}; name at least one of "
            + "; ".join(f"{column}: {', '.join(names)}" for column, names in COLUMN_ALIASES.items())
        )
    return found


def _load_csv(path: Path) -> Trace:
    with path.open(newline="", encoding="utf-8-sig") as file:
        header = next(csv.reader(file), None)
    if header is None:
        raise DataError(f"{path}:1: empty file; expected a header row")
    index = _map_header(path, header)
    try:
        # The C parser is the fast path; any doubt falls back to the line-by-line reader, which
        # is the one that knows line numbers and words the error. Its "no data" warning is such
        # a doubt, made an exception here so that it reaches the fallback.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(
                path, delimiter=",", skiprows=1, usecols=list(index.values()),
                dtype=np.float64, ndmin=2, comments=None, quotechar='"', encoding="utf-8-sig",
            )  # fmt: skip
        columns = {name: table[:, i] for i, name in enumerate(index)}
        if _columns_valid(columns) and len(table) > 0:
            return _trace(path, columns)
    except (ValueError, UserWarning):
        pass
    return _trace(path, _scan(path, _csv_rows(path, index)))


def _csv_rows(path: Path, index: dict[str, int]) -> Iterator[tuple[int, dict[str, object]]]:
    width = max(index.values()) + 1
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        next(reader)
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < width:
                raise DataError(
                    f"{path}:{reader.line_num}: expected at least {width} fields, got {len(row)}"
                )
            yield reader.line_num, {name: row[i] for name, i in index.items()}


def _load_jsonl(path: Path) -> Trace:
    return _trace(path, _scan(path, _jsonl_rows(path)))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    keys: dict[str, str] | None = None
    with path.open(encoding="utf-8-sig") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{line_number}: expected a JSON object")
            if keys is None:
                # The first record decides which columns the trace has and under which keys.
                header = [key for key in record if isinstance(key, str)]
                keys = {column: header[i] for column, i in _map_header(path, header).items()}
            missing = [key for key in keys.values() if key not in record]
            if missing:
                raise DataError(f"{path}:{line_number}: missing key(s) {missing}")
            yield line_number, {column: record[key] for column, key in keys.items()}


def _scan(path: Path, rows: Iterable[tuple[int, dict[str, object]]]) -> dict[str, FloatArray]:
    """Check each row, in order, and collect the columns; the first bad row raises."""
    values: dict[str, list[float]] = {}
    previous_s = -math.inf
    for line_number, row in rows:
        for column, raw in row.items():
            number = _number(path, line_number, column, raw)
            if column == ARRIVAL:
                if number < previous_s:
                    raise DataError(
                        f"{path}:{line_number}: arrival time {number} is earlier than the row "
                        f"before ({previous_s}); sort the file by arrival time"
                    )
                previous_s = number
            elif number < 0 or number != math.floor(number):
                raise DataError(
                    f"{path}:{line_number}: {column} must be an integer >= 0, got {raw!r}"
                )
            values.setdefault(column, []).append(number)
    if not values:
        raise DataError(f"{path}: no data rows")
    return {column: np.asarray(numbers, dtype=np.float64) for column, numbers in values.items()}


def _number(path: Path, line_number: int, column: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise DataError(f"{path}:{line_number}: {column} must be a number, got {raw!r}")
    try:
        number = float(raw)
    except ValueError:
        raise DataError(f"{path}:{line_number}: {column} must be a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise DataError(f"{path}:{line_number}: {column} must be finite, got {raw!r}")
    return number


def _columns_valid(columns: dict[str, FloatArray]) -> bool:
    for column, array in columns.items():
        if not np.isfinite(array).all():
            return False
        if column == ARRIVAL:
            if (np.diff(array) < 0).any():
                return False
        elif (array < 0).any() or (array != np.floor(array)).any():
            return False
    return True


def _trace(path: Path, columns: dict[str, FloatArray]) -> Trace:
    def tokens(name: str) -> IntArray | None:
        array = columns.get(name)
        return None if array is None else array.astype(np.int64)

    return Trace(
        source=str(path),
        arrival_s=columns.get(ARRIVAL),
        prompt_tokens=tokens(PROMPT),
        output_tokens=tokens(OUTPUT),
    )
