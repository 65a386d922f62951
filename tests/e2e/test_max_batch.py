"""--infperf-max-batch end to end on the fake backend: the search's table and report section."""

from __future__ import annotations

import pytest
from helpers import run_fake


def test_max_batch_search_finds_the_limit(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_FAKE_OOM_ABOVE", "100")
    result = run_fake(fake_suite, "--infperf-max-batch=4096", "--infperf-report=report.md")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*infperf largest batch that runs*",
        "net*fake-cpu-fp32-bmax*100*101*out of memory*",
    ])
    assert "## Largest batch that runs" in (fake_suite.path / "report.md").read_text()
