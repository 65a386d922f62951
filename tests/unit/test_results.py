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
