"""``slokit bench`` end to end against a real model server: llama.cpp serving SmolLM2-135M."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from slokit.backends.local import LocalModelServer
from slokit.cli import main
from slokit.results import load_run

OUTPUT_TOKENS = 8


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    with LocalModelServer() as running:
        yield running


def bench(server: LocalModelServer, out: Path, *extra: str) -> int:
    return main(
        [
            "bench",
            "--base-url",
            server.base_url,
            "--model",
            server.model,
            "--prompt-tokens",
            "24",
            "--output-tokens",
            str(OUTPUT_TOKENS),
            "--ignore-eos",
            "--quiet",
            "-o",
            str(out),
            *extra,
        ]
    )


def test_streamed_chat_against_llama_cpp(server: LocalModelServer, tmp_path: Path) -> None:
    code = bench(server, tmp_path, "--concurrency", "1", "--requests", "4", "--slo", "e2e<=60s")
    assert code == 0
    run = load_run(tmp_path)
    summary = run.summary
    assert summary["requests"]["completed"] == 4
    assert summary["slo_attainment"] == 1.0
    for record in run.records:
        assert record.ok
        assert record.first_token_s is not None
        assert record.sent_s < record.first_token_s < record.end_s
        # ignore_eos holds the reply at max_tokens; the stream carries one token per chunk.
        assert record.output_tokens == OUTPUT_TOKENS
        assert len(record.chunk_times_s) >= OUTPUT_TOKENS - 1
    # A 135M model on a CPU: tokens come milliseconds apart, and a closed loop of one user
    # never overlaps requests.
    assert 0 < summary["tpot_s"]["p50"] < summary["e2e_s"]["p50"]
    assert summary["generator"]["max_in_flight"] == 1
    ordered = sorted(run.records, key=lambda r: r.sent_s)
    assert all(a.end_s <= b.sent_s for a, b in itertools.pairwise(ordered))


def test_non_streamed_completions_use_the_servers_token_counts(
    server: LocalModelServer, tmp_path: Path
) -> None:
    code = bench(
        server,
        tmp_path,
        "--endpoint",
        "completions",
        "--no-stream",
        "--rate",
        "2",
        "--requests",
        "3",
        "--seed",
        "5",
    )
    assert code == 0
    run = load_run(tmp_path)
    assert run.summary["requests"]["completed"] == 3
    for record in run.records:
        assert record.output_tokens == OUTPUT_TOKENS
        assert not record.output_tokens_counted  # from the server's usage, not counted
        assert record.prompt_tokens is not None
        assert record.prompt_tokens > 0
