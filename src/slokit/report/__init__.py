"""A run's results as one self-contained HTML report: summary, latency plots, errors, sweep."""

from slokit.report.build import REPORT_FILE, ReportOptions, render_report, write_report

__all__ = ["REPORT_FILE", "ReportOptions", "render_report", "write_report"]
