"""Direct tests of pytest_infperf.passes: when interleaved repeat passes apply, which cells they plan, and how the
passes run, with a stand-in config and session (the worker job is replaced; no pytest session, nothing measured)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_infperf import passes
from pytest_infperf.artifacts.models import ModelSpec
from pytest_infperf.matrix import Case
from pytest_infperf.measure.results import ColdStart, Outcome, Repeat
from pytest_infperf.measure.timing import Timing
from pytest_infperf.session import InfperfSession

SHAPE = (3, 8, 8)


def net() -> object:
    return object()


class Backend:
    name = "fake"

    def __init__(self, unavailable: str | None = None) -> None:
        self.unavailable = unavailable

    def unavailable_reason(self, case: Case, source: Any) -> str | None:
        return self.unavailable


class Config:
    def __init__(self, repeats: int = 3, order: str = "interleaved", backend: Backend | None = None) -> None:
        self.stash = pytest.Stash()
        self.rootpath = Path(".")
        self.option = SimpleNamespace(collectonly=False, dist="no", continue_on_collection_errors=False)
        self._benchmarksession = SimpleNamespace(disabled=False)
        self.hook = SimpleNamespace(pytest_infperf_make_backend=lambda config, name: backend or Backend())
        settings = SimpleNamespace(repeats=repeats, repeat_order=order, seed=0, isolate=True)
        InfperfSession(settings=settings, fingerprint=None).attach(self)  # type: ignore[arg-type]


class Item:
    def __init__(self, nodeid: str, case: Case | None, spec: ModelSpec | None = None, marker: str = "") -> None:
        self.nodeid = nodeid
        self.callspec = None if case is None else SimpleNamespace(params={"infperf_case": (case, spec)})
        self.marker = marker

    def get_closest_marker(self, name: str) -> object:
        return object() if name == self.marker else None


def session(config: Config, items: list[Item] = ()) -> SimpleNamespace:  # type: ignore[assignment]
    return SimpleNamespace(config=config, items=list(items), testsfailed=0, shouldstop=False, shouldfail=False)


def case(batch: int = 1, **kwargs: Any) -> Case:
    return Case("fake", "cpu", "fp32", batch, SHAPE, **kwargs)


def repeat(ms: float = 1.0) -> Repeat:
    samples = (ms / 1e3,) * 3
    return Repeat(Timing(samples, 1, ms / 1e3, 3, 0.01, True, 0.1), ColdStart(0.01, ms / 1e3))


def test_applies_with_several_interleaved_repeats_only() -> None:
    assert passes.applies(session(Config(repeats=3)))
    assert not passes.applies(session(Config(repeats=1)))  # nothing to interleave
    assert not passes.applies(session(Config(repeats=3, order="consecutive")))


@pytest.mark.parametrize("change", ["collectonly", "xdist_controller", "xdist_worker", "collection_errors",
                                    "benchmark_disabled", "no_benchmark_session", "no_infperf_session"])
def test_applies_not_when(change: str) -> None:
    config = Config()
    run = session(config)
    if change == "collectonly":
        config.option.collectonly = True
    elif change == "xdist_controller":
        config.option.dist = "load"
    elif change == "xdist_worker":
        config.workerinput = {"workerid": "gw0"}  # type: ignore[attr-defined]
    elif change == "collection_errors":
        run.testsfailed = 1
    elif change == "benchmark_disabled":
        config._benchmarksession.disabled = True
    elif change == "no_benchmark_session":
        del config._benchmarksession
    else:
        config.stash = pytest.Stash()  # pytest_configure stopped at a usage error
    assert not passes.applies(run)


def test_collection_errors_with_continue_on_collection_errors_still_apply() -> None:
    config = Config()
    config.option.continue_on_collection_errors = True
    run = session(config)
    run.testsfailed = 1
    assert passes.applies(run)


def test_plan_keeps_the_timed_cells_in_session_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passes, "source_for", lambda spec, root, seed: spec.resolve(root, seed))
    good = ModelSpec.from_marker(net)
    items = [
        Item("t.py::b8", case(8), good),
        Item("t.py::plain", None),  # not an infperf test
        Item("t.py::skipped", case(2), good, marker="skip"),
        Item("t.py::skipif", case(3), good, marker="skipif"),
        Item("t.py::search", case(1, max_batch=64), good),  # a max-batch search, not a timed cell
        Item("t.py::broken", case(4), ModelSpec.from_marker("_infperf_no_such_module_:net")),  # its test reports it
        Item("t.py::b1", case(1), good),
    ]
    planned = passes.plan(session(Config(), items))
    assert [(p.nodeid, p.case.batch) for p in planned] == [("t.py::b8", 8), ("t.py::b1", 1)]
    assert planned[0].spec is good and isinstance(planned[0].backend, Backend)


def test_plan_leaves_out_cells_the_backend_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passes, "source_for", lambda spec, root, seed: spec.resolve(root, seed))
    config = Config(backend=Backend(unavailable="fake is not installed"))
    assert passes.plan(session(config, [Item("t.py::a", case(), ModelSpec.from_marker(net))])) == []


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, str]]:
    """run_job replaced: records (cell, slot, what) and returns a repeat, or a crash for cells named crash."""
    calls: list[tuple[str, int, str]] = []

    def run_job(config: Any, label: str, func: Any, request: Any, slot: int = 0, on_progress: Any = None,
                echo_log: bool = True, what: str = "") -> Any:
        calls.append((request, slot, what))
        assert func is passes.execute_repeat and not echo_log
        if "crash" in request:
            return Outcome("crashed", label, "worker died")
        return repeat()

    monkeypatch.setattr(passes, "run_job", run_job)
    monkeypatch.setattr(passes, "cell_request", lambda config, nodeid, case, spec, backend: nodeid)
    monkeypatch.setattr(passes, "write_progress", lambda config, text: None)
    return calls


def _planned(*nodeids: str) -> list[passes.PlannedCell]:
    return [passes.PlannedCell(n, case(), ModelSpec.from_marker(net), Backend()) for n in nodeids]


def test_run_takes_repeats_minus_one_passes_each_in_its_own_worker_slot(monkeypatch, jobs) -> None:
    config = Config(repeats=3)
    monkeypatch.setattr(passes, "plan", lambda s: _planned("t.py::a", "t.py::b"))
    passes.run(session(config))
    assert jobs == [("t.py::a", 0, "repeat pass 1 of 3"), ("t.py::b", 0, "repeat pass 1 of 3"),
                    ("t.py::a", 1, "repeat pass 2 of 3"), ("t.py::b", 1, "repeat pass 2 of 3")]
    store = InfperfSession.of(config).repeats
    assert [(r.index, r.worker) for r in store["t.py::a"]] == [(0, "0"), (1, "1")]  # tagged with pass and slot


def test_a_cell_that_crashed_in_a_pass_is_not_run_again(monkeypatch, jobs) -> None:
    config = Config(repeats=4)
    monkeypatch.setattr(passes, "plan", lambda s: _planned("t.py::crash", "t.py::ok"))
    passes.run(session(config))
    assert [call[0] for call in jobs] == ["t.py::crash", "t.py::ok", "t.py::ok", "t.py::ok"]
    store = InfperfSession.of(config).repeats
    assert len(store["t.py::crash"]) == 1 and isinstance(store["t.py::crash"][0], Outcome)  # its test reports it
    assert len(store["t.py::ok"]) == 3


def test_run_stops_when_the_session_should_stop(monkeypatch, jobs) -> None:
    config = Config(repeats=3)
    monkeypatch.setattr(passes, "plan", lambda s: _planned("t.py::a"))
    run = session(config)
    run.shouldstop = True
    passes.run(run)
    assert jobs == [] and InfperfSession.of(config).repeats == {}


def test_run_does_nothing_when_passes_do_not_apply(monkeypatch, jobs) -> None:
    monkeypatch.setattr(passes, "plan", lambda s: pytest.fail("planned although repeats=1"))
    passes.run(session(Config(repeats=1)))
    assert jobs == []
