"""Serving cells in --infperf-report: a section the serving pool provides, appended by report.summary."""

from __future__ import annotations

import dataclasses

from helpers import served

from pytest_infperf.report import fmt, summary
from pytest_infperf.serving import report
from pytest_infperf.serving.plugin import ServerPool


def test_the_report_ends_with_the_serving_section_when_there_is_one():
    pool = ServerPool(config=None)  # type: ignore[arg-type]  # markdown() reads only the results
    assert pool.markdown() == ""
    pool.results.append(served(8, 2))
    text = summary.markdown_report("machine-x", [], {}, {}, {}, [], extra=[pool.markdown()])
    assert text.startswith("# Inference performance: machine-x")
    assert text.rstrip().splitlines()[-1].startswith("| toy | - | mb8 | u2 |")
    assert "## Serving (Triton)" in text and summary.markdown_report("m", [], {}, {}, {}, [], extra=[""]).count(
        "\n") == 1


def test_the_serving_table_is_rendered_by_report_fmt():
    """Missing and non-finite numbers print fmt.MISSING like every other table (the serving table had its own '—')."""
    ok = served(8, 2)
    nan_cold = dataclasses.replace(ok, load=dataclasses.replace(ok.load, cold_start_s=float("nan")))
    lines = report.table([nan_cold, served(4, ok=False)]).splitlines()
    assert lines[2] == ("| toy | - | mb8 | u2 | 200 | 2 | 100.0 | 2.99 | 3.78 | 3.96 | - | - | - | -/-/- | 0/0 | - | - "
                        "| ok |")
    assert lines[3] == "| toy | - | mb4 |" + " - |" * 14 + " crashed |"
    assert lines[:2] == fmt.markdown_table(report.HEADERS, [])
    assert report.row(served(4, ok=False)) == lines[3]
