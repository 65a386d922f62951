"""compare.judge's verdict bundle: one per cell, whatever kinds it holds."""

from __future__ import annotations

from pytest_infperf.compare.gate import Status, Verdict
from pytest_infperf.compare.judge import Verdicts


def verdict(status: Status, unit: str = "s") -> Verdict:
    return Verdict(cell="torch-cpu-fp32-b1", status=status, current_median=2.0, baseline_median=1.0, change=1.0,
                   unit=unit, baseline_source="0001_x.json")


def test_a_bundle_names_the_kinds_it_holds_and_lists_each_regression_in_order():
    bundle = Verdicts(verdict(Status.REGRESSED), verdict(Status.UNCHANGED), verdict(Status.REGRESSED, "MiB"))
    assert list(bundle.kinds()) == ["time", "cold-start", "memory"] and bundle.regressed()
    lines = bundle.regressions()
    assert [line.split(":")[0] for line in lines] == ["performance regression", "memory regression"]


def test_an_out_of_memory_cell_has_only_its_memory_verdict():
    bundle = Verdicts(None, None, verdict(Status.REGRESSED, "MiB"))
    assert list(bundle.kinds()) == ["memory"] and bundle.regressed()
    assert not Verdicts(verdict(Status.NOISY), verdict(Status.UNCHANGED)).regressed()
