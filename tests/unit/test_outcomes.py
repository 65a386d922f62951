"""Direct tests of pytest_infperf.report.outcomes: cells without a measurement, max-batch and concurrency tables."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import cell

from pytest_infperf.measure.concurrency import ConcurrencyStats
from pytest_infperf.measure.results import Outcome, OutcomeStatus
from pytest_infperf.report import outcomes as report_outcomes

OOM = Outcome("oom", "torch-cuda-fp32-b4096", "CUDA out of memory", batch=4096,
              memory=(("device_used_mib", 79_000.0), ("device_total_mib", 81_079.0)))
CRASH = Outcome("crashed", "torch-cuda-fp16-b8", "worker died", exit_signal="SIGSEGV")


def test_outcomes_come_first_with_their_figures():
    text = report_outcomes.markdown({"t.py::a": OOM, "t.py::b": CRASH}, [], [])
    assert text.startswith("## Cells without a measurement")
    assert "- **out of memory**: `t.py::a`: torch-cuda-fp32-b4096: out of memory (batch 4096; device 79,000 of " \
           "81,079 MiB in use" in text
    assert "- **crashed**: `t.py::b`" in text
    assert report_outcomes.outcome_lines({"t.py::b": CRASH})[0].startswith("t.py::b: torch-cuda-fp16-b8: crashed")


def test_an_unknown_outcome_status_is_an_error_not_a_dash():
    with pytest.raises(ValueError, match="melted"):  # refused where it is made: no renderer ever meets it
        Outcome("melted", "c", "?")
    assert Outcome("oom", "c", "?").status is OutcomeStatus.OOM == "oom"


def test_concurrency_rows_scale_against_one_user():
    one = cell("torch", 1, 2.0)
    four = dataclasses.replace(cell("torch", 1, 2.0, concurrency=4), concurrency=ConcurrencyStats(
        users=4, requests=400, window_s=1.0, images_per_s=1500.0, p50_s=2.5e-3, p90_s=3e-3, p99_s=4e-3,
        per_user_requests=(100, 100, 100, 100)))
    headers, rows = report_outcomes.concurrency_rows([one, four])
    table = [dict(zip(headers, row, strict=True)) for row in rows]
    assert [r["users"] for r in table] == ["1", "4"]
    assert table[1]["vs 1 user"] == "3.00x" and table[1]["p50"] == "2.50 ms" and table[1]["fairness"] == "1.00"
    assert report_outcomes.concurrency_rows([one])[1] == []  # no concurrency axis: no table
