"""The report opened in a real browser: Debian's headless Chromium lays out and draws each plot.

The page's own script records, on the root element, how many plots the browser drew with
visible geometry and any script error; ``--dump-dom`` prints the DOM after that script ran.
Chromium must be installed (``apt-get install -y chromium``): without it this test fails, so
a CI image that lacks it is noticed instead of passing silently.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from slokit.report import write_report
from slokit.results import RequestRecord

CHROMIUM = Path("/usr/bin/chromium")
MakeRun = Callable[..., Path]
MakeRecords = Callable[..., list[RequestRecord]]


class DomSummary(HTMLParser):
    """Attributes of the root element and of each plot, and the script elements, of a DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.plots: dict[str, dict[str, str | None]] = {}
        self.scripts = 0
        self.paths_in_plot: dict[str, int] = {}
        self._plot: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.root = attributes
        elif tag == "script":
            self.scripts += 1
        elif tag == "figure" and "plot" in (attributes.get("class") or ""):
            self._plot = attributes.get("id") or "?"
            self.plots[self._plot] = attributes
            self.paths_in_plot[self._plot] = 0
        elif tag == "path" and self._plot and "series" in (attributes.get("class") or ""):
            self.paths_in_plot[self._plot] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._plot = None


def rendered_dom(page: Path, profile: Path) -> str:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`"
        )
    completed = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_every_plot_renders_in_chromium(
    make_run: MakeRun,
    make_records: MakeRecords,
    sweep: dict[str, Any],
    timeline: dict[str, Any],
    tmp_path: Path,
) -> None:
    results = make_run(
        make_records(3_000),
        model="<script>document.title='owned'</script>",
        sweep=sweep,
        timeline=timeline,
    )
    page = write_report(results)
    dom = DomSummary()
    dom.feed(rendered_dom(page, tmp_path / "profile"))
    expected = {
        "plot-ttft-cdf",
        "plot-tpot-cdf",
        "plot-e2e-cdf",
        "plot-itl-cdf",
        "plot-ttft-time",
        "plot-tpot-time",
        "plot-sweep-goodput",
        "plot-sweep-attainment",
        "plot-replicas",
    }
    assert set(dom.plots) == expected
    # The checks ran (the policy admitted the script) and raised nothing.
    assert dom.root.get("data-js-errors") is None
    assert dom.root.get("data-plots") == str(len(expected))
    assert dom.root.get("data-plots-drawn") == str(len(expected))
    for plot, attributes in dom.plots.items():
        assert attributes.get("data-drawn") == "true", plot
        visible = int(attributes.get("data-visible-series") or 0)
        assert visible == dom.paths_in_plot[plot] > 0, plot
    assert dom.scripts == 1, "the model name stayed text"
