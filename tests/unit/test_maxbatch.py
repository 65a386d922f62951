"""The max-batch search (grow, then bisect) on scripted tries: no backend, no process."""

from __future__ import annotations

import json

import pytest

from pytest_infperf.measure import maxbatch
from pytest_infperf.measure.maxbatch import TryStatus
from pytest_infperf.measure.results import Outcome, OutcomeStatus
from pytest_infperf.measure.runner import Probe


def _tries(limit_ok: int, status: str = "oom"):
    calls: list[int] = []

    def try_batch(batch: int) -> Probe | Outcome:
        calls.append(batch)
        if batch <= limit_ok:
            return Probe(batch=batch, seconds_per_batch=batch * 1e-3, peak_mib=batch * 10.0)
        return Outcome(status, "cell", "no", batch=batch)

    return try_batch, calls


@pytest.mark.parametrize("limit_ok", [1, 2, 3, 37, 64, 100, 1000])
def test_search_is_exact_below_64_and_within_1_64th_above(limit_ok: int) -> None:
    try_batch, calls = _tries(limit_ok)
    found = maxbatch.search("cell", "m", 1 << 20, try_batch)
    assert found.smallest_failing is not None and found.largest_ok is not None
    assert found.largest_ok <= limit_ok < found.smallest_failing
    assert found.smallest_failing - found.largest_ok <= max(1, found.largest_ok // 64)
    if limit_ok < 64:
        assert found.largest_ok == limit_ok
    assert found.limited_by == "out of memory" and found.failure.batch == found.smallest_failing
    assert found.peak_mib == found.largest_ok * 10.0
    assert len(calls) == len(set(calls))  # no batch tried twice


def test_search_stops_at_its_limit_and_reports_other_failures() -> None:
    try_batch, calls = _tries(10**9)
    found = maxbatch.search("cell", "m", 48, try_batch)
    assert (found.largest_ok, found.smallest_failing, found.limited_by) == (48, None, "search limit")
    assert calls == [1, 2, 4, 8, 16, 32, 48]
    try_batch, _ = _tries(0, status="crashed")
    found = maxbatch.search("cell", "m", 48, try_batch)
    assert (found.largest_ok, found.smallest_failing, found.limited_by) == (None, 1, "crashed")


def test_tries_carry_a_status_enum_and_write_its_plain_value() -> None:
    try_batch, _ = _tries(3)
    found = maxbatch.search("cell", "m", 48, try_batch)
    assert [t.status for t in found.tries] == [TryStatus.OK, TryStatus.OK, TryStatus.OOM, TryStatus.OK]
    assert all(type(t.status) is TryStatus for t in found.tries)
    tries = json.loads(json.dumps(found.to_json(), allow_nan=False))["tries"]
    assert [t["status"] for t in tries] == ["ok", "ok", "oom", "ok"]  # the file format is unchanged
    assert tries[0] == {"batch": 1, "status": "ok", "peak_mib": 10.0, "seconds_per_batch": 1e-3}
    # every way a cell can fail is a way a try can end
    assert {s.value for s in TryStatus} == {"ok"} | {s.value for s in OutcomeStatus}
    assert maxbatch.Try(1, "crashed").status is TryStatus.CRASHED
