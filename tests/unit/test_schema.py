"""compare.schema: what we write of a cell and what a baseline reads back, side by side."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import cell

from pytest_infperf.compare.schema import RecordError, StoredCell, cell_from_json, cell_to_json
from pytest_infperf.measure.results import ColdStart, Diagnosis, Repeat
from pytest_infperf.measure.timing import Timing


def bench(result) -> dict:
    """One ``benchmarks`` entry as pytest-benchmark writes it, through strict JSON."""
    record = json.loads(json.dumps(cell_to_json(result), allow_nan=False))
    return {"fullname": result.nodeid, "stats": {"data": list(result.timing.samples)},
            "extra_info": {"infperf": record}}


def test_what_is_written_of_a_cell_reads_back_as_the_gate_needs_it():
    base = cell(device="cuda")
    repeats = tuple(
        Repeat(Timing(tuple(x * (1 + i / 10) for x in base.timing.samples), 1, 1e-3, 3, 0.01, True, 0.1),
               ColdStart(0.2 + i, 0.01), index=i, memory_peak_mib=100.0 + i,
               diagnosis=Diagnosis(1e-3, 1e-3, launch_bound=i == 1),
               host_probes=tuple(7e-6 for _ in base.timing.samples))
        for i in range(3))
    stored = cell_from_json(bench(dataclasses.replace(base, repeats=repeats)))
    assert stored == StoredCell(
        fullname=base.nodeid, repeats=tuple(r.timing.samples for r in repeats), launch_bound=True,
        cold_s=pytest.approx(0.21), memory_mib=(100.0, 101.0, 102.0), sm_clock_mhz=None,
        host_probes=tuple(r.host_probes for r in repeats))


def test_a_cell_without_repeats_is_one_repeat_of_its_samples_and_unreadable_entries_say_why():
    base = cell()
    record = bench(base)
    record["extra_info"]["infperf"]["repeats"] = []  # a schema-2 file: one measurement per cell
    assert cell_from_json(record).repeats == (base.timing.samples,)
    with pytest.raises(RecordError, match="without 'fullname'"):
        cell_from_json({"stats": {"data": [1.0]}})
    record["stats"]["data"] = [0.0]
    with pytest.raises(RecordError, match="no usable raw samples"):
        cell_from_json(record)


@pytest.mark.parametrize("check", [
    {"reference": "torch fp32", "max_rel_error": 1.0, "tolerance": 0.01, "ok": False},  # too far off
    {"reference": "torch fp32", "max_rel_error": None, "tolerance": 0.01, "nonfinite": "output contains NaN"},
    {"reference": "torch fp32", "max_rel_error": float("inf"), "tolerance": 0.01, "ok": False},  # an older version's
])
def test_a_cell_whose_output_check_failed_is_never_a_baseline(check):
    # Older versions recorded wrong-output cells as measurements; a file saved then must not serve as a baseline.
    record = bench(cell())
    assert cell_from_json(record) is not None
    record["extra_info"]["infperf"]["output_check"] = check
    assert cell_from_json(record) is None
    record["stats"]["data"] = []  # its samples do not matter: it is skipped, not refused
    assert cell_from_json(record) is None


def test_a_failed_output_check_as_written_today_is_recognised():
    record = bench(cell(ok=False))
    assert record["extra_info"]["infperf"]["output_check"]["ok"] is False
    assert cell_from_json(record) is None


def test_a_cold_start_right_after_the_export_is_compared_only_when_every_repeat_exported():
    """The exporting process creates its session faster (onnxruntime CPU on the CI VM: 59 ms after the export,
    200-650 ms in the other processes): with the export's time subtracted, that repeat's cold start was the save's
    least and every A/A session's cold start read as a +150...+500 % regression."""
    from pathlib import Path

    from pytest_infperf.compare.baseline import BaselineRun, BaselineSet
    from pytest_infperf.compare.gate import GatePolicy, Status
    from pytest_infperf.compare.judge import apply
    from pytest_infperf.measure.results import combine

    base = cell()

    def repeats(loads, exported=(0,)):
        return tuple(Repeat(base.timing, ColdStart(load, 0.006, phases=(("export_s", 0.7),) if i in exported else ()),
                            index=i) for i, load in enumerate(loads))

    saved = repeats([0.779, 0.421, 0.375])  # the exporting repeat: 0.779 - 0.7 + 0.006 = 0.085 s
    stored = cell_from_json(bench(combine(base, saved)))
    assert stored.cold_s == pytest.approx(0.381)
    assert combine(base, saved).cold.load_s == 0.375 and dict(combine(base, saved).cold.phases) == {"export_s": 0.7}
    assert cell_from_json(bench(combine(base, saved[:1]))).cold_s == pytest.approx(0.085)  # nothing else to take

    baseline = BaselineSet((BaselineRun(Path("0001_x.json"), 1, "x", "fp", "", cells={base.nodeid: (
        base.timing.samples,)}, cold={base.nodeid: stored.cold_s}),))
    for now in (repeats([0.415, 0.406, 0.374], exported=()), repeats([0.76, 0.44, 0.42])):  # A/A; cache cleared
        verdicts = apply(combine(base, now), baseline, GatePolicy())
        assert verdicts.cold is not None and verdicts.cold.status is Status.UNCHANGED, verdicts.cold.message()
        assert verdicts.cold.current_median > 0.3
