import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from slokit.errors import DataError
from slokit.results import (
    SCHEMA_VERSION,
    RecordWriter,
    RequestRecord,
    iter_records,
    load_results,
    load_run,
    write_json_atomic,
)


def record(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=i, scheduled_s=i * 0.1, sent_s=i * 0.1, end_s=i * 0.1 + 0.3, output_tokens=i
    )


def test_run_round_trip(tmp_path: Path) -> None:
    with RecordWriter(tmp_path / "requests.jsonl") as writer:
        writer.write_all(record(i) for i in range(5))
    write_json_atomic(
        tmp_path / "results.json",
        {"schema_version": SCHEMA_VERSION, "summary": {"goodput": 1.5}},
    )
    run = load_run(tmp_path)
    assert [r.request_id for r in run.records] == list(range(5))
    assert run.summary == {"goodput": 1.5}
    assert load_run(tmp_path / "results.json").records == run.records


def test_torn_last_line_is_skipped_but_a_torn_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    good = orjson.dumps(record(1).to_json())
    path.write_bytes(good + b"\n" + good[:10])
    assert [r.request_id for r in iter_records(path)] == [1]
    path.write_bytes(good[:10] + b"\n" + good + b"\n")
    with pytest.raises(DataError, match=":1:"):
        list(iter_records(path))


def test_results_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError, match=r"nope\.json"):
        load_results(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_results(bad)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(DataError, match="schema_version"):
        load_results(other)
    future = tmp_path / "future.json"
    future.write_text('{"schema_version": 999}')
    with pytest.raises(DataError, match="schema 999"):
        load_results(future)


_WRITER = """
import sys
from pathlib import Path
from slokit.results import SCHEMA_VERSION, RecordWriter, RequestRecord, write_json_atomic
out = Path(sys.argv[1])
with RecordWriter(out / "requests.jsonl") as writer:
    i = 0
    while True:
        writer.write(RequestRecord(request_id=i, scheduled_s=0.0, sent_s=0.0, end_s=1.0))
        writer.flush()
        write_json_atomic(out / "results.json", {"schema_version": SCHEMA_VERSION, "n": i,
                          "pad": "x" * 100_000})
        if i == 50:
            print("ready", flush=True)
        i += 1
"""


def test_kill_during_writes_corrupts_nothing(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    results = load_results(tmp_path)  # whole, never torn
    records = list(iter_records(tmp_path / "requests.jsonl"))
    assert results["n"] >= 50
    assert [r.request_id for r in records] == list(range(len(records)))
    assert len(records) >= results["n"]
