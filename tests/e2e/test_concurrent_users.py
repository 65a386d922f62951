"""--infperf-concurrency end to end on the fake backend: cells per user count, the scaling table, the JSON."""

from __future__ import annotations

import pytest
from helpers import load_json, run_fake


def test_concurrent_users_scale_and_are_reported(fake_suite: pytest.Pytester) -> None:
    result = run_fake(fake_suite, "--infperf-batches=1", "--infperf-concurrency=1,4", "--benchmark-json=out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*infperf concurrent users*", "net*fake*cpu*fp32*1*1*", "net*fake*cpu*fp32*1*4*"])
    data = load_json(fake_suite.path / "out.json")
    cells = {b["param"]: b["extra_info"]["infperf"] for b in data["benchmarks"]}
    assert set(cells) == {"fake-cpu-fp32-b1", "fake-cpu-fp32-b1-c4"}
    four = cells["fake-cpu-fp32-b1-c4"]["concurrency"]
    assert four["users"] == 4 and len(four["per_user_requests"]) == 4 and min(four["per_user_requests"]) >= 10
    assert four["p50_s"] <= four["p99_s"]
