"""The frozen results: the notes a cell carries."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from helpers import cell

from pytest_infperf.compare.gate import Status, Verdict
from pytest_infperf.compare.schema import repeat_to_json
from pytest_infperf.measure import runner
from pytest_infperf.measure.results import CellResult, ColdStart, Diagnosis, Outcome, OutputCheck, Repeat
from pytest_infperf.measure.timing import Timing


def test_the_leak_note_uses_one_threshold(monkeypatch):
    from pytest_infperf.measure import results

    def leaked(mib: float) -> CellResult:
        held = cell("torch", 1, 1.0, mib=200.0)
        return dataclasses.replace(held, memory=dataclasses.replace(held.memory, leaked_mib=mib))

    limit = results.LEAK_NOTE_MIB
    assert f"{limit + 1:.0f} MiB held after release" in leaked(limit + 1).notes
    assert not any("held after release" in n for n in leaked(limit).notes)
    monkeypatch.setattr(results, "LEAK_NOTE_MIB", limit + 10)
    assert not any("held after release" in n for n in leaked(limit + 1).notes)


def test_combine_reports_the_least_cold_start_with_the_one_time_phases_of_the_repeat_that_ran_them():
    from pytest_infperf.measure.results import ColdStart, Repeat, combine
    from pytest_infperf.measure.timing import Timing

    timing = Timing((0.001,) * 5, 1, 0.002, 3, 0.1, True, 0.5)
    first = Repeat(timing=timing, cold=ColdStart(0.9, 0.01, phases=(("quantize_s", 0.6),)), index=0)  # quantized
    later = [Repeat(timing=timing, cold=ColdStart(load, 0.01), index=i) for i, load in ((1, 0.25), (2, 0.2))]
    cold = combine(cell(), [first, *later]).cold
    assert (cold.load_s, dict(cold.phases)) == (0.2, {"quantize_s": 0.6})  # least load + first call, quantized once


def test_non_finite_figures_are_null_at_their_source():
    check = runner.check_output(np.array([np.nan, 1.0]), np.ones(2), "fp32", "torch fp32")
    assert not check.ok and check.max_rel_error is None and check.nonfinite == "output contains NaN"
    check = runner.check_output(np.array([np.inf, 1.0]), np.ones(2), "fp32", "torch fp32")
    assert not check.ok and check.max_rel_error is None and check.nonfinite == "output contains inf"
    check = runner.check_output(np.ones(2), np.array([np.nan, 1.0]), "fp32", "torch fp32")
    assert not check.ok and check.max_rel_error is None and check.nonfinite == "reference contains NaN"
    assert runner.check_output(np.ones(2), np.ones(2), "fp32", "torch fp32").ok

    idle = Diagnosis(host_enqueue_s=1e-4, device_s=0.0, launch_bound=True)
    assert idle.ratio is None
    samples = (1e-3, 1.1e-3, 0.9e-3)
    repeat = Repeat(Timing(samples, 1, 1e-3, 3, 0.01, True, 0.1), ColdStart(0.01, 1e-3), diagnosis=idle)
    assert repeat_to_json(repeat)["diagnosis"]["ratio"] is None

    # an out-of-memory cell that the baseline ran: its memory figure is "none", not infinite
    oom = Verdict("c", Status.REGRESSED, current_median=float("inf"), unit="MiB", change=float("nan"))
    assert json.loads(json.dumps(oom.to_json(), allow_nan=False))["current_mib"] is None


def test_the_last_guard_leaves_no_non_finite_float_anywhere():
    from pytest_infperf.measure.results import strict_json

    data = {"a": float("nan"), "b": [1.0, float("inf"), (np.float32("-inf"), np.float64(2.5))], "c": {"d": "x"}}
    assert strict_json(data) == {"a": None, "b": [1.0, None, [None, 2.5]], "c": {"d": "x"}}
    outcome = Outcome("oom", "c", "out of memory", memory=(("rss_mib", float("inf")),))
    json.dumps(outcome.to_json(), allow_nan=False)


def test_output_check_json_flags_non_finite_output():
    check = OutputCheck("torch fp32", None, 1e-2, nonfinite="output contains NaN")
    assert not check.ok
    assert json.loads(json.dumps({"c": check.to_json()}, allow_nan=False))["c"] == {
        "reference": "torch fp32", "max_rel_error": None, "tolerance": 1e-2, "nonfinite": "output contains NaN",
        "ok": False,
    }


def test_other_processes_cpu_is_noted_from_a_quarter_core_on_and_kept_per_repeat_in_the_json():
    from pytest_infperf.measure import hostspeed

    base = cell("torch", 4, 1.0)

    def busy(*cores: float | None) -> CellResult:
        return dataclasses.replace(base, repeats=tuple(Repeat(base.timing, base.cold, other_cpu=c) for c in cores))

    assert "other processes used 0.45 cores" in busy(0.02, 0.45, None).notes
    limit = hostspeed.OTHER_CPU_NOTE
    assert not any("other processes" in n for n in busy(limit - 0.01, None).notes)
    assert not any("other processes" in n for n in busy(None, None).notes)
    stored = json.loads(json.dumps(repeat_to_json(Repeat(base.timing, base.cold, other_cpu=0.3))))
    assert stored["other_cpu_cores"] == 0.3
    assert repeat_to_json(Repeat(base.timing, base.cold))["other_cpu_cores"] is None
