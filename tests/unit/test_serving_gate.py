"""The serving gate (serving/gate.py, compare.gate.decide_values): throughput and p99 of a serving cell's repeats
against the baseline runs' stored records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_infperf.compare.gate import GatePolicy, Status, decide_values
from pytest_infperf.serving import gate
from pytest_infperf.serving.results import LoadResult, LoadSpec, Outcome, ServingResult, TritonStats

POLICY = GatePolicy()


def load(rate: float, p99_ms: float, n: int = 200) -> LoadResult:
    """A 2-second window of ``rate`` requests/s whose latencies put the p99 at about ``p99_ms``."""
    latencies = tuple([p99_ms / 2e3] * (n - 3) + [p99_ms / 1e3] * 3)
    return LoadResult(spec=LoadSpec(users=4), window_s=2.0, ok=int(rate * 2), errors=0, timeouts=0, dropped=0,
                      latencies_s=latencies, stats=TritonStats())


def served(*loads: LoadResult) -> ServingResult:
    best = max(loads, key=lambda r: r.requests_per_s)
    return ServingResult(model="m", url="x", batcher=None, outcome=Outcome.OK, load=best, repeats=tuple(loads))


def record(*loads: LoadResult) -> dict:
    return json.loads(json.dumps(served(*loads).to_json()))


def test_decide_values_takes_the_least_repeat_and_the_whole_range_as_noise():
    # one noisy repeat does not move the figure; the range of the repeats is their measured spread
    same = decide_values("c", [1.00, 1.30, 1.02], [[1.01, 0.99, 1.05]], threshold=0.10)
    assert same.status is Status.UNCHANGED and same.current_median == 1.00
    assert same.repeat_spread == pytest.approx(0.262, abs=0.001)  # log(1.30 / 1.00)
    wide = decide_values("c", [1.20, 1.25, 1.22], [[1.00, 1.30, 1.10]], threshold=0.10)
    assert wide.status is Status.NOISY and wide.limited_by == "repeats", wide.message()
    tight = decide_values("c", [1.20, 1.21, 1.22], [[1.00, 1.01, 1.02]], threshold=0.10)
    assert tight.status is Status.REGRESSED and tight.change == pytest.approx(0.20)
    faster = decide_values("c", [0.80, 0.81, 0.82], [[1.00, 1.01, 1.02]], threshold=0.10)
    assert faster.status is Status.IMPROVED
    assert decide_values("c", [1.0], [], threshold=0.1).status is Status.NO_BASELINE


def test_decide_values_floor_widens_the_limit_of_one_save():
    floored = decide_values("c", [1.20, 1.21, 1.22], [[1.00, 1.01, 1.02]], threshold=0.10, floor=0.10)
    assert floored.status is Status.NOISY and floored.limited_by == "floor"
    assert decide_values("c", [1.60, 1.61, 1.62], [[1.00, 1.01, 1.02]], threshold=0.10,
                         floor=0.10).status is Status.REGRESSED


def test_serving_cell_throughput_halved_regresses_and_p99_has_its_own_threshold():
    base = [record(load(400, 10.0), load(410, 10.5), load(405, 10.2))]
    aa = gate.judge("mb8-u4", served(load(402, 10.4), load(398, 10.1), load(407, 10.8)), base, POLICY, 0.25)
    assert aa.throughput.status is Status.UNCHANGED and aa.p99.status is Status.UNCHANGED
    assert aa.regressions() == []
    slow = gate.judge("mb8-u4", served(load(200, 26.0), load(205, 25.5), load(198, 26.5)), base, POLICY, 0.25)
    assert slow.throughput.status is Status.REGRESSED and slow.p99.status is Status.REGRESSED
    assert slow.throughput.change == pytest.approx(410 / 205 - 1, rel=0.01)
    assert "205.0 vs 410.0 inferences/s" in slow.throughput.message()
    assert [line.split(":")[0] for line in slow.regressions()] == ["serving throughput regression",
                                                                   "serving p99 regression"]
    # p99 doubled: within the p99 floor's limit with one save (σ 25 %: ±127 %), so noisy, not a failure
    doubled = gate.judge("mb8-u4", served(load(402, 20.0), load(398, 20.2), load(407, 20.4)), base, POLICY, 0.25)
    assert doubled.p99.status is Status.NOISY and doubled.p99.limited_by == "floor", doubled.p99.message()
    assert gate.judge("mb8-u4", served(load(402, 20.0)), base, POLICY, 0.25, p99_floor=0.0).p99.status is \
        Status.REGRESSED
    # p99 +20 % with throughput unchanged: below the looser p99 threshold
    tail = gate.judge("mb8-u4", served(load(402, 12.0), load(398, 12.2), load(407, 12.4)), base, POLICY, 0.25)
    assert tail.p99.status is Status.UNCHANGED and tail.p99.change == pytest.approx(0.20, abs=0.01)
    assert json.loads(json.dumps(slow.to_json()))["throughput"]["status"] == "regressed"


def test_the_baseline_keeps_serving_records_of_ok_cells(tmp_path: Path):
    from pytest_infperf.compare.baseline import BaselineSet, read_run

    ok, crashed = record(load(400, 10.0)), {**record(load(1, 1.0)), "outcome": "crashed"}
    data = [0.01, 0.011]
    bench = [{"fullname": "t.py::test[a]", "stats": {"data": data}, "extra_info": {"infperf_serving": ok}},
             {"fullname": "t.py::test[b]", "stats": {"data": data}, "extra_info": {"infperf_serving": crashed}},
             {"fullname": "t.py::other", "stats": {"data": data}, "extra_info": {"infperf": {}}}]
    path = tmp_path / "0001_x.json"
    path.write_text(json.dumps({"machine_info": {"infperf": {"schema": 3, "fingerprint": "fp", "fields": {}}},
                                "benchmarks": bench, "infperf": {"schema": 3, "outcomes": {}}}))
    baseline = BaselineSet((read_run(path, "fp"),))
    assert baseline.serving("t.py::test[a]") == [ok]
    assert baseline.serving("t.py::test[b]") == []  # a crashed cell is no baseline
    assert baseline.serving("t.py::other") == []
