"""Interleaved repeat passes: each cell's repeats spread over the whole session, in different worker processes.

A launch-bound GPU cell's median switches between a fast and a slow host mode over time (H200: 1.34 / 2.28 / 1.37 /
1.35 / 2.10 ms in five processes), and the mode can hold for several cells in a row, so repeats taken back to back
can all land in one mode. Before the tests run, ``--infperf-repeats=N`` makes N-1 passes over the selected cells,
pass r in worker process r; the test of each cell then takes its last repeat (with the memory pass and the output
check) and the gate judges all of them. Under pytest-xdist (whose workers receive their tests one by one) and with
``infperf_repeat_order=consecutive``, each test takes its repeats in turn instead (fixture.InfPerf._measure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from . import distributed
from .artifacts.models import ModelSpec
from .errors import ModelError
from .fixture import cell_request, run_job, tag, write_progress
from .inputs import unsupported_reason
from .matrix import Case
from .measure.results import Outcome
from .measure.runner import execute_repeat, source_for
from .session import InfperfSession


@dataclass(frozen=True)
class PlannedCell:
    nodeid: str
    case: Case
    spec: ModelSpec
    backend: Any


def applies(session: pytest.Session) -> bool:
    config = session.config
    run = InfperfSession.find(config)
    settings = run.settings if run is not None else None
    if settings is None or settings.repeats < 2 or settings.repeat_order != "interleaved":
        return False
    if config.option.collectonly or distributed.active(config):  # xdist: each test takes its repeats in turn
        return False
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return False  # pytest stops on collection errors before running anything
    bs = getattr(config, "_benchmarksession", None)
    return bs is not None and not bs.disabled


def plan(session: pytest.Session) -> list[PlannedCell]:
    """The timed cells the session will run, in its order; cells that will skip or fail before measuring are left
    to their test (it reports them)."""
    config = session.config
    settings = InfperfSession.of(config).settings
    out = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("infperf_case") if callspec is not None else None
        if param is None or item.get_closest_marker("skip") or item.get_closest_marker("skipif"):
            continue
        case, spec = param
        if case.max_batch:
            continue
        backend = config.hook.pytest_infperf_make_backend(config=config, name=case.backend)
        try:
            source = source_for(spec, config.rootpath, settings.seed)
        except ModelError:
            continue
        if unsupported_reason(case, backend) or backend.unavailable_reason(case, source):
            continue
        out.append(PlannedCell(item.nodeid, case, spec, backend))
    return out


def run(session: pytest.Session) -> None:
    if not applies(session):
        return
    config = session.config
    settings = InfperfSession.of(config).settings
    cells = plan(session)
    if not cells:
        return
    store: dict[str, list[Any]] = InfperfSession.of(config).repeats
    passes = settings.repeats - 1
    for index in range(passes):
        started = time.monotonic()
        write_progress(config, f"repeat pass {index + 1} of {settings.repeats} over {len(cells)} cells "
                               f"(the tests take pass {settings.repeats})")
        for cell in cells:
            if session.shouldstop or session.shouldfail:
                return
            earlier = store.setdefault(cell.nodeid, [])
            if any(isinstance(value, Outcome) for value in earlier):
                continue  # it crashed, hung or ran out of memory already: its test reports that

            def on_progress(message: str, elapsed: float, cell: PlannedCell = cell, index: int = index) -> None:
                write_progress(config, f"pass {index + 1}: {cell.case.id}: {message} ({elapsed:.0f} s so far)")

            request = cell_request(config, cell.nodeid, cell.case, cell.spec, cell.backend)
            value = run_job(config, cell.case.id, execute_repeat, request, slot=index, on_progress=on_progress,
                            echo_log=False, what=f"repeat pass {index + 1} of {settings.repeats}")
            earlier.append(value if isinstance(value, Outcome) else tag(value, index, index, settings.isolate))
        write_progress(config, f"repeat pass {index + 1} done in {time.monotonic() - started:.0f} s")
