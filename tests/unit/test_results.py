"""The frozen results: the notes a cell carries."""

from __future__ import annotations

import dataclasses

from helpers import cell

from pytest_infperf.measure.results import CellResult


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
