from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from slokit.errors import ConfigError, DataError
from slokit.workload import Trace, load_trace

REAL_CONV = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "traces" / "splitwise_conv.csv"
)


def test_a_csv_trace_loads_every_column(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    assert len(trace) == 10
    assert trace.arrival_s is not None
    assert trace.arrival_s[:3].tolist() == [0.0, 0.5, 1.0]
    assert trace.token_column("prompt_tokens")[:2].tolist() == [374, 396]
    assert trace.token_column("num_decode_tokens")[-1] == 400
    assert trace.duration_s == 4.5
    assert trace.token_column("input_tokens").dtype == np.int64


def test_columns_are_read_only(conv_csv: Path) -> None:
    trace = load_trace(conv_csv)
    assert trace.prompt_tokens is not None
    with pytest.raises(ValueError, match="read-only"):
        trace.prompt_tokens[0] = 1


def test_jsonl_with_aliases_loads_like_csv(tmp_path: Path, conv_csv: Path) -> None:
    path = tmp_path / "conv.jsonl"
    rows = [
        {"timestamp": t, "input_tokens": p, "output_tokens": o, "note": "x"}
        for t, p, o in [(0.0, 374, 44), (0.5, 396, 109), (1.0, 879, 3)]
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    trace = load_trace(path)
    expected = load_trace(conv_csv)
    assert trace.arrival_s is not None
    assert expected.arrival_s is not None
    assert trace.arrival_s.tolist() == expected.arrival_s[:3].tolist()
    assert trace.token_column("prompt_tokens").tolist() == [374, 396, 879]


def test_a_length_only_file_loads_without_times(tmp_path: Path) -> None:
    path = tmp_path / "lengths.csv"
    path.write_text(
        "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n"
        "3772,54,3826,69.85\n2015,156,2171,12.9\n"
    )
    trace = load_trace(path)
    assert trace.arrival_s is None
    assert trace.token_column("output_tokens").tolist() == [54, 156]
    with pytest.raises(ConfigError, match="no arrival-time column"):
        _ = trace.mean_rate_per_s


def test_header_names_are_case_insensitive_and_quotes_and_blank_lines_pass(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text('Arrival_Time,Prompt_Tokens,extra\n"0.5",10,a\n\n1.5,"20",b\n')
    trace = load_trace(path)
    assert trace.token_column("prompt_tokens").tolist() == [10, 20]
    assert trace.output_tokens is None


@pytest.mark.parametrize(
    ("body", "line", "match"),
    [
        ("0.0,1,1\n0.5,abc,2\n", 3, "must be a number"),
        ("0.0,1,1\n0.5,-3,2\n", 3, "integer >= 0"),
        ("0.0,1,1\n0.5,1.5,2\n", 3, "integer >= 0"),
        ("0.0,1,1\n0.5,1,nan\n", 3, "finite"),
        ("1.0,1,1\n0.5,1,1\n", 3, "sort the file"),
        ("0.0,1,1\n0.5,1\n", 3, "at least 3 fields"),
        ("0.0,1,1\n\n\n0.5,x,1\n", 5, "must be a number"),
    ],
)
def test_a_malformed_csv_row_names_the_file_and_line(
    tmp_path: Path, body: str, line: int, match: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n" + body)
    with pytest.raises(DataError, match=match) as caught:
        load_trace(path)
    assert f"{path}:{line}:" in str(caught.value)


@pytest.mark.parametrize(
    ("lines", "line", "match"),
    [
        (['{"arrival_s": 0, "prompt_tokens": 3}', "{oops"], 2, "not valid JSON"),
        (['{"arrival_s": 0, "prompt_tokens": 3}', "[1, 2]"], 2, "JSON object"),
        (['{"arrival_s": 0, "prompt_tokens": 3}', '{"arrival_s": 1}'], 2, "missing key"),
        (['{"arrival_s": 0, "prompt_tokens": 3}', '{"arrival_s": 1, "prompt_tokens": true}'], 2,
         "must be a number"),
        (['{"unknown": 1}'], 1, "no known column"),
    ],
)  # fmt: skip
def test_a_malformed_jsonl_line_names_the_file_and_line(
    tmp_path: Path, lines: list[str], line: int, match: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match) as caught:
        load_trace(path)
    assert f"{path}:{line}:" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty file"),
        ("arrived_at,num_prefill_tokens\n", "no data rows"),
        ("when,how_long\n1,2\n", "no known column"),
        ("prompt_tokens,input_tokens\n1,2\n", "keep one"),
    ],
)
def test_unusable_files_raise_data_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        load_trace(path)


def test_a_missing_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.csv"):
        load_trace(tmp_path / "nowhere.csv")


def test_traces_compare_by_content(conv_csv: Path) -> None:
    assert load_trace(conv_csv) == load_trace(conv_csv)
    assert hash(load_trace(conv_csv)) == hash(load_trace(conv_csv))
    assert "rows=10" in repr(load_trace(conv_csv))


def test_an_unknown_token_column_names_the_ones_there(conv_csv: Path) -> None:
    with pytest.raises(ConfigError, match="prompt_tokens"):
        load_trace(conv_csv).token_column("arrival_s")


@pytest.mark.skipif(not REAL_CONV.exists(), reason=f"real trace not present at {REAL_CONV}")
def test_the_real_splitwise_conversation_trace_loads_fast() -> None:
    started = time.perf_counter()
    trace = load_trace(REAL_CONV)
    elapsed_s = time.perf_counter() - started
    assert len(trace) == 19_366
    assert trace.mean_rate_per_s == pytest.approx(5.5, abs=0.1)
    assert elapsed_s < 0.5


def test_a_trace_in_memory_keeps_its_own_read_only_copies() -> None:
    times = np.array([0.0, 1.0, 3.0])
    trace = Trace(source="memory", arrival_s=times, prompt_tokens=np.array([1, 2, 3]))
    times[0] = 5.0
    assert trace.arrival_s is not None
    assert trace.arrival_s.tolist() == [0.0, 1.0, 3.0]
    assert times.flags.writeable
    assert trace.mean_rate_per_s == pytest.approx(2 / 3)
    assert trace != "memory"


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({}, "has none of the columns"),
        ({"arrival_s": np.array([0.0]), "prompt_tokens": np.array([1, 2])}, "differ in length"),
    ],
)
def test_a_trace_needs_aligned_columns(columns: dict[str, np.ndarray], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Trace(source="memory", **columns)


def test_a_rate_needs_two_distinct_times() -> None:
    with pytest.raises(ConfigError, match="two distinct arrival times"):
        _ = Trace(source="memory", arrival_s=np.array([1.0, 1.0])).mean_rate_per_s
