"""The ``infperf`` fixture's object: measures its cell, records it for pytest-benchmark, applies the gate."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import compare, progress
from .artifacts.models import ModelSource, ModelSpec
from .compare import gate, schema
from .errors import ModelError
from .inputs import unsupported_reason
from .matrix import Case
from .measure import maxbatch
from .measure.maxbatch import MaxBatch
from .measure.results import CellResult, Outcome, OutcomeStatus, Repeat, combine
from .measure.runner import (
    CellRequest,
    Probe,
    execute_cell,
    execute_probe,
    execute_repeat,
    execute_smoke,
    ready_process,
    source_for,
)
from .measure.worker import Job, execute
from .session import InfperfSession

if TYPE_CHECKING:
    from .backends.base import Backend


class InfperfRegressionWarning(UserWarning):
    """A cell regressed while ``--infperf-gate=warn``."""


def cell_params(case: Case, model: str) -> dict[str, object]:
    """The cell's axes as plain JSON values, for pytest-benchmark's ``params``: ``compare --group-by=param:backend``
    (or device, precision, batch, shape, concurrency, infperf_case) groups the same cell across runs. The test's own
    param is a (Case, ModelSpec) tuple, which pytest-benchmark can only write as an "UNSERIALIZABLE[...]" string."""
    return {
        "infperf_case": case.id, "model": model, "backend": case.backend, "device": case.device,
        "precision": case.precision, "batch": case.batch, "shape": "x".join(map(str, case.input_shape)),
        "concurrency": case.concurrency,
        **dict(case.dims),  # named dims (inputs.py): e.g. "seq": 128, plain ints to group by
    }


def record_in_pytest_benchmark(benchmark: Any, result: CellResult) -> None:
    """Hand our samples to pytest-benchmark so that its table, JSON, --benchmark-save and compare see them. Only a
    cell whose output is right may come here: whatever is recorded is saved and becomes a baseline.

    ``_make_stats`` is pytest-benchmark's own constructor for a run's statistics (stable since 3.x); going through it
    keeps one source of truth for the JSON schema instead of writing our own. It takes ``params`` from the fixture, and
    ``options`` describe pytest-benchmark's own loop unless told what we did: our timer, our warm-up.
    """
    others = {k: v for k, v in (benchmark.params or {}).items() if k != "infperf_case"}  # a user's own parametrize
    benchmark.params = {**others, **cell_params(result.case, result.model)}  # a new dict: pytest's stays untouched
    block = result.timing.block_size
    stats = benchmark._make_stats(block)
    for per_call in result.timing.samples:
        stats.update(per_call * block)
    stats.options.update(
        timer=result.timer or "time.perf_counter",
        warmup=True,  # until the call time settled (timing.measure), not pytest-benchmark's warm-up
        warmup_calls=result.timing.warmup_calls,
        warmup_s=result.timing.warmup_time,
        warmup_settled=result.timing.warmup_settled,
    )
    benchmark.extra_info["infperf"] = schema.cell_to_json(result)


def cache_dir(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("infperf-onnx"))
    return Path(config.rootpath) / ".infperf-cache"


def cell_request(config: pytest.Config, nodeid: str, case: Case, spec: ModelSpec, backend: Backend) -> CellRequest:
    settings = InfperfSession.of(config).settings
    return CellRequest(
        nodeid=nodeid, case=case, spec=spec, rootpath=config.rootpath, backend=backend,
        timing_policy=settings.timing_policy, cache_dir=cache_dir(config), seed=settings.seed,
        check_outputs=settings.check_outputs, memory=settings.memory,
    )


def run_job(
    config: pytest.Config, label: str, func: Any, request: CellRequest, slot: int = 0,
    on_progress: Callable[[str, float], None] | None = None, echo_log: bool = True, what: str = "",
) -> Any:
    """Run one unit of work in the session's worker process of ``slot`` (or here, without isolation): its value, or
    the ``Outcome`` of a cell that ended without one. ``what`` (e.g. "repeat 2 of 3") is added to an outcome's
    message."""
    value = _run_job(config, label, func, request, slot, on_progress, echo_log)
    if isinstance(value, Outcome) and what:
        value = dataclasses.replace(value, message=f"{value.message} (in {what})")
    return value


def _run_job(
    config: pytest.Config, label: str, func: Any, request: CellRequest, slot: int,
    on_progress: Callable[[str, float], None] | None, echo_log: bool,
) -> Any:
    settings = InfperfSession.of(config).settings
    job = Job(label, func, (request,), batch=request.case.batch, device=request.case.device)
    if not settings.isolate:
        start = time.monotonic()
        if on_progress is not None:
            progress.set_sink(lambda message: on_progress(message, time.monotonic() - start))
        try:
            return execute(job)
        finally:
            progress.set_sink(None)
    pool = InfperfSession.of(config).worker
    if settings.repeats > 1:  # every repeat slot's process started together, before the first cell is measured
        pool.start(settings.repeats, Job("start-up", ready_process, (request, settings.selection.backends)),
                   timeout=settings.cell_timeout)
    value, log = pool.run(slot, job, timeout=settings.cell_timeout, on_progress=on_progress)
    if log and echo_log:
        sys.stderr.write(log + "\n")  # the worker's output, captured with this test like its own
    return value


def tag(repeat: Repeat, index: int, slot: int, isolate: bool, confirm: bool = False) -> Repeat:
    return dataclasses.replace(repeat, index=index, worker=str(slot) if isolate else "-", confirm=confirm)


class InfPerf:
    """What a perf test receives: ``infperf.benchmark()`` measures the test's cell."""

    def __init__(self, request: pytest.FixtureRequest, case: Case, spec: ModelSpec, benchmark: Any) -> None:
        self.request = request
        self.case = case
        self.spec = spec
        self._benchmark = benchmark
        self.result: CellResult | None = None
        self.outcome: Outcome | None = None
        self.max_batch: MaxBatch | None = None

    @property
    def config(self) -> pytest.Config:
        return self.request.config

    def _source(self) -> ModelSource:
        settings = InfperfSession.of(self.config).settings
        return source_for(self.spec, self.config.rootpath, settings.seed)

    def _request(self, backend: Backend, case: Case | None = None) -> CellRequest:
        return cell_request(self.config, self.request.node.nodeid, case or self.case, self.spec, backend)

    def _progress(self, message: str, elapsed: float) -> None:
        """Long phases (export, build, compile) say what they are doing, outside pytest's output capture."""
        write_progress(self.config, f"{self.case.id}: {message} ({elapsed:.0f} s so far)")

    def _run(self, label: str, func: Any, request: CellRequest, slot: int = 0, what: str = "") -> Any:
        """The job's value; a cell that ended without one (crash, OOM, timeout, error) ends the test here."""
        value = run_job(self.config, label, func, request, slot=slot, on_progress=self._progress, what=what)
        if isinstance(value, Outcome):
            self._outcome(value)
        return value

    def benchmark(self) -> CellResult | MaxBatch | None:
        # pytest-benchmark's "used" mark, set first: a cell that ends without a measurement (crash, out of memory,
        # timeout, error, a max-batch search, --benchmark-disable) used the fixture too, and would otherwise get
        # "Benchmark fixture was not used at all in this test!"; a test that never calls this still gets it
        self._benchmark._mode = "infperf.benchmark()"
        config = self.config
        backend: Backend = config.hook.pytest_infperf_make_backend(config=config, name=self.case.backend)
        try:
            source = self._source()
        except ModelError as exc:
            pytest.fail(f"{self.case.id}: {exc}", pytrace=False)
        reason = unsupported_reason(self.case, backend) or backend.unavailable_reason(self.case, source)
        if reason:
            pytest.skip(reason)
        if self.case.max_batch:
            return self._search_max_batch(backend, source.name)
        if self._benchmark.disabled:
            self._run(self.case.id, execute_smoke, self._request(backend))
            return None
        result = self._measure(backend)
        self.result = result
        if result.check is not None and not result.check.ok:
            # shown in the results table (WRONG OUTPUT), but neither judged nor recorded for pytest-benchmark: what is
            # recorded is saved, and a saved cell is a baseline that later runs are compared with
            InfperfSession.of(config).results.append(result)
            pytest.fail(
                f"{self.case.id}: {result.check.problem()} for {self.case.precision}; a fast but wrong result is not "
                "a result (not recorded, so never a baseline)",
                pytrace=False,
            )
        if InfperfSession.of(config).baseline is not None:
            verdicts = self._judge(result)
            settings = InfperfSession.of(config).settings
            if settings.confirm and verdicts.time is not None and gate.wants_confirmation(verdicts.time):
                result = self._confirm(backend, result, settings.confirm)
                self.result = result
                verdicts = self._judge(result)
                if self.case.device == "cpu":
                    result, verdicts = self._outwait(backend, result, verdicts)
                    self.result = result
        record_in_pytest_benchmark(self._benchmark, result)
        InfperfSession.of(config).results.append(result)
        if InfperfSession.of(config).baseline is not None:
            self._enforce(verdicts)
        return result

    def _measure(self, backend: Backend) -> CellResult:
        """The cell's repeats: those the interleaved passes took earlier in the session, then the full measurement
        (memory, output check) and, without passes (consecutive order, xdist), the remaining repeats in turn, each
        in its own worker process."""
        settings = InfperfSession.of(self.config).settings
        isolate = settings.isolate
        earlier = InfperfSession.of(self.config).repeats.pop(self.request.node.nodeid, [])
        for value in earlier:
            if isinstance(value, Outcome):
                self._outcome(value)
        repeats: list[Repeat] = [value for value in earlier if isinstance(value, Repeat)]
        slot = len(repeats)
        request = self._request(backend)
        cell: CellResult = self._run(self.case.id, execute_cell, request, slot=slot)
        repeats.append(tag(cell.repeats[0], slot, slot, isolate))
        while len(repeats) < settings.repeats:
            slot = len(repeats)
            repeat: Repeat = self._run(self.case.id, execute_repeat, request, slot=slot,
                                       what=f"repeat {slot + 1} of {settings.repeats}")
            repeats.append(tag(repeat, slot, slot, isolate))
        return combine(cell, repeats)

    def _outwait(self, backend: Backend, result: CellResult,
                 verdicts: compare.Verdicts) -> tuple[CellResult, compare.Verdicts]:
        """A CPU cell that still looks slower after its confirmation repeats: wait a step for a slow host episode to
        pass, take one more repeat, judge again — until the cell is cleared or the session's waiting budget is spent
        (`patience.HostWait`). Judged on raw samples as always: a real slowdown is in every repeat and stays."""
        run = InfperfSession.of(self.config)
        waits = run.host_wait
        waited = 0.0
        slot = run.settings.confirm
        fresh = run.settings.isolate and run.worker is not None
        while verdicts.time is not None and gate.wants_confirmation(verdicts.time) and waits.next_pause() > 0:
            change = verdicts.time.change or 0.0
            write_progress(self.config, f"{self.case.id}: still {change:+.1%} after confirmation; waiting "
                                        f"{waits.next_pause():.0f} s for a slow host to recover, then one more repeat"
                                        f"{' in a fresh process' if fresh else ''} ({waits.left_s:.0f} s of "
                                        "infperf_host_wait left)")
            slot = slot % max(run.settings.repeats, 1)
            if fresh:
                # a fresh process: how fast a process runs a CPU cell is partly the process's own (torch b8 31.4
                # and 38.4 ms in two repeats of one save in CI), and the slots' processes are those of the slow spell
                run.worker.worker(slot).stop()
            seconds = waits.pause()
            waited += seconds
            result = self._confirm(backend, result, 1, waited_s=seconds, first_slot=slot)
            slot += 1
            verdicts = self._judge(result)
        if waited and verdicts.time is not None:
            taken = sum(1 for r in result.repeats if r.waited_s > 0)
            note = (f"{taken} repeat(s) taken after waiting {waited:.0f} s for a slow host "
                    f"({'cleared' if not gate.wants_confirmation(verdicts.time) else 'still slower'})")
            time_verdict = dataclasses.replace(
                verdicts.time, detail="; ".join(d for d in (verdicts.time.detail, note) if d))
            verdicts = dataclasses.replace(verdicts, time=time_verdict)
            InfperfSession.of(self.config).verdicts[result.nodeid] = verdicts
        return result, verdicts

    def _confirm(self, backend: Backend, result: CellResult, count: int, waited_s: float = 0.0,
                 first_slot: int = 0) -> CellResult:
        """More repeats, in the session's worker processes in turn, for a cell whose repeats suggest a slowdown: a
        real one stays, a slow host mode that happened to last through the first repeats is cleared. (A fresh process
        per confirmation costs seconds of CUDA and compiler start-up per repeat on a GPU; the host's slow mode is
        not tied to a process: on an H200 it changed within one process between consecutive cells.)"""
        settings = InfperfSession.of(self.config).settings
        request = self._request(backend)
        repeats = list(result.repeats)
        slots = max(settings.repeats, 1)
        for i in range(count):
            slot = (first_slot + i) % slots
            repeat: Repeat = self._run(self.case.id, execute_repeat, request, slot=slot,
                                       what=f"confirmation repeat {i + 1} of {count}")
            repeat = tag(repeat, len(repeats), slot, settings.isolate, confirm=True)
            repeats.append(dataclasses.replace(repeat, waited_s=waited_s) if i == 0 and waited_s else repeat)
        return combine(result, repeats)

    def _outcome(self, outcome: Outcome) -> None:
        """A cell without a measurement: recorded, shown in the summary; OOM skips unless the baseline ran it."""
        config = self.config
        self.outcome = outcome
        InfperfSession.of(config).outcomes[self.request.node.nodeid] = outcome
        text = outcome.describe()
        if outcome.log_tail:
            text += "\nlast lines of the cell's log:\n" + "\n".join(f"  {line}" for line in outcome.log_tail)
        if outcome.status is not OutcomeStatus.OOM:
            pytest.fail(text, pytrace=False)
        settings = InfperfSession.of(config).settings
        verdict = compare.oom_verdict(outcome, self.request.node.nodeid, InfperfSession.of(config).baseline)
        if verdict is not None:
            InfperfSession.of(config).verdicts[self.request.node.nodeid] = compare.Verdicts(None, None, verdict)
            if settings.gate is gate.GateMode.FAIL:
                pytest.fail(f"memory regression: {text} (the baseline ran this cell)", pytrace=False)
            if settings.gate is gate.GateMode.WARN:
                warnings.warn(InfperfRegressionWarning(f"memory regression: {text}"), stacklevel=2)
        pytest.skip(f"OUT OF MEMORY: {text}")

    def _search_max_batch(self, backend: Backend, model: str) -> MaxBatch:
        started = time.monotonic()

        def try_batch(batch: int) -> Probe | Outcome:
            case = dataclasses.replace(self.case, batch=batch)
            return run_job(self.config, f"{self.case.id} (batch {batch})", execute_probe, self._request(backend, case),
                           on_progress=self._progress)

        found = maxbatch.search(self.case.id, model, self.case.max_batch, try_batch)
        found = dataclasses.replace(found, seconds=time.monotonic() - started)
        InfperfSession.of(self.config).max_batch.append(found)
        self.max_batch = found
        if found.largest_ok is None:
            assert found.failure is not None
            self._outcome(dataclasses.replace(found.failure, message=found.failure.message + " (even batch 1)"))
        return found

    def _judge(self, result: CellResult) -> compare.Verdicts:
        """The compare layer's verdicts on this cell, stored for the summary and JSON."""
        run = InfperfSession.of(self.config)
        verdicts = compare.apply(result, run.baseline, run.settings.gate_policy)
        run.verdicts[result.nodeid] = verdicts
        return verdicts

    def _enforce(self, verdicts: compare.Verdicts) -> None:
        enforce(InfperfSession.of(self.config).settings.gate, verdicts.regressions())


def enforce(mode: gate.GateMode, failures: list[str]) -> None:
    """What a cell's regressions do under ``--infperf-gate``: fail the test, warn, or nothing (model and serving
    cells alike)."""
    if not failures or mode is gate.GateMode.OFF:
        return
    if mode is gate.GateMode.FAIL:
        pytest.fail("\n".join(failures), pytrace=False)
    for failure in failures:
        warnings.warn(InfperfRegressionWarning(failure), stacklevel=3)


def write_progress(config: pytest.Config, text: str) -> None:
    """A line on the terminal, outside pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with context:
        reporter.write_line(f"    [infperf] {text}")
