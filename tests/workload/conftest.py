"""Small synthetic traces in the formats of the real ones, written under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

#: (arrived_at, num_prefill_tokens, num_decode_tokens): ten requests over 4.5 s.
CONV_ROWS = [
    (0.0, 374, 44),
    (0.5, 396, 109),
    (1.0, 879, 3),
    (1.5, 91, 12),
    (2.0, 1200, 250),
    (2.5, 64, 8),
    (3.0, 512, 128),
    (3.5, 33, 1),
    (4.0, 700, 90),
    (4.5, 18, 400),
]


@pytest.fixture
def conv_csv(tmp_path: Path) -> Path:
    path = tmp_path / "conv.csv"
    lines = ["arrived_at,num_prefill_tokens,num_decode_tokens"]
    lines += [f"{t},{p},{o}" for t, p, o in CONV_ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path
