"""Serving cells in --infperf-report: a section the serving pool provides, appended by report.summary."""

from __future__ import annotations

from helpers import served

from pytest_infperf.report import summary
from pytest_infperf.serving.plugin import ServerPool


def test_the_report_ends_with_the_serving_section_when_there_is_one():
    pool = ServerPool(config=None)  # type: ignore[arg-type]  # markdown() reads only the results
    assert pool.markdown() == ""
    pool.results.append(served(8, 2))
    text = summary.markdown_report("machine-x", [], {}, {}, {}, [], extra=[pool.markdown()])
    assert text.startswith("# Inference performance: machine-x")
    assert text.rstrip().splitlines()[-1].startswith("| mb8 | u2 |")
    assert "## Serving (Triton)" in text and summary.markdown_report("m", [], {}, {}, {}, [], extra=[""]).count(
        "\n") == 1
