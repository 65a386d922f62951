"""The ``infperf`` fixture's object: measures its cell, records it for pytest-benchmark, applies the gate."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import gate, maxbatch, progress, state
from .errors import ModelError
from .matrix import Case
from .maxbatch import MaxBatch
from .models import ModelSource, ModelSpec
from .results import CellResult, Outcome
from .runner import CellRequest, Probe, execute_cell, execute_probe, execute_smoke, source_for
from .worker import Job, execute

if TYPE_CHECKING:
    from .backends.base import Backend


class InfperfRegressionWarning(UserWarning):
    """A cell regressed while ``--infperf-gate=warn``."""


def record_in_pytest_benchmark(benchmark: Any, result: CellResult) -> None:
    """Hand our samples to pytest-benchmark so that its table, JSON, --benchmark-save and compare see them.

    ``_make_stats`` is pytest-benchmark's own constructor for a run's statistics (stable since 3.x); going through it
    keeps one source of truth for the JSON schema instead of writing our own.
    """
    benchmark._mode = "infperf.benchmark()"  # tells pytest-benchmark the fixture was used
    block = result.timing.block_size
    stats = benchmark._make_stats(block)
    for per_call in result.timing.samples:
        stats.update(per_call * block)
    benchmark.extra_info["infperf"] = result.to_json()


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
        settings = self.config.stash[state.SETTINGS]
        return source_for(self.spec, self.config.rootpath, settings.seed)

    def _cache_dir(self) -> Path:
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            return Path(cache.mkdir("infperf-onnx"))
        return Path(self.config.rootpath) / ".infperf-cache"

    def _request(self, backend: Backend, case: Case | None = None) -> CellRequest:
        settings = self.config.stash[state.SETTINGS]
        return CellRequest(
            nodeid=self.request.node.nodeid, case=case or self.case, spec=self.spec, rootpath=self.config.rootpath,
            backend=backend, policy=settings.timing, cache_dir=self._cache_dir(), seed=settings.seed,
            check_outputs=settings.check_outputs, memory=settings.memory,
        )

    def _progress(self, message: str, elapsed: float) -> None:
        """Long phases (export, build, compile) say what they are doing, outside pytest's output capture."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        context = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with context:
            reporter.write_line(f"    [infperf] {self.case.id}: {message} ({elapsed:.0f} s so far)")

    def _run(self, label: str, func: Any, request: CellRequest) -> tuple[str, Any]:
        """Run one unit of work in the session's worker process (or here, without isolation)."""
        settings = self.config.stash[state.SETTINGS]
        job = Job(label, func, (request,), batch=request.case.batch, device=request.case.device)
        if not settings.isolate:
            start = time.monotonic()
            progress.set_sink(lambda message: self._progress(message, time.monotonic() - start))
            try:
                return execute(job)
            finally:
                progress.set_sink(None)
        worker = self.config.stash[state.WORKER]
        kind, value, log = worker.run(job, timeout=settings.cell_timeout, on_progress=self._progress)
        if log:
            sys.stderr.write(log + "\n")  # the worker's output, captured with this test like its own
        return kind, value

    def benchmark(self) -> CellResult | MaxBatch | None:
        config = self.config
        backend: Backend = config.hook.pytest_infperf_make_backend(config=config, name=self.case.backend)
        try:
            source = self._source()
        except ModelError as exc:
            pytest.fail(f"{self.case.id}: {exc}", pytrace=False)
        reason = backend.unavailable_reason(self.case, source)
        if reason:
            pytest.skip(reason)
        if self.case.max_batch:
            return self._search_max_batch(backend, source.name)
        if self._benchmark.disabled:
            kind, value = self._run(self.case.id, execute_smoke, self._request(backend))
            if kind == "outcome":
                self._outcome(value)
            return None
        kind, value = self._run(self.case.id, execute_cell, self._request(backend))
        if kind == "outcome":
            self._outcome(value)
        result: CellResult = value
        record_in_pytest_benchmark(self._benchmark, result)
        config.stash[state.RESULTS].append(result)
        self.result = result
        if result.check is not None and not result.check.ok:
            pytest.fail(
                f"{self.case.id}: output differs from the {result.check.reference} reference: max relative error "
                f"{result.check.max_rel_error:.3g} > {result.check.tolerance:g} for {self.case.precision}; "
                "a fast but wrong result is not a result",
                pytrace=False,
            )
        self._apply_gate(result)
        return result

    def _outcome(self, outcome: Outcome) -> None:
        """A cell without a measurement: recorded, shown in the summary; OOM skips unless the baseline ran it."""
        config = self.config
        self.outcome = outcome
        config.stash[state.OUTCOMES][self.request.node.nodeid] = outcome
        text = outcome.describe()
        if outcome.log_tail:
            text += "\nlast lines of the cell's log:\n" + "\n".join(f"  {line}" for line in outcome.log_tail)
        if outcome.status != "oom":
            pytest.fail(text, pytrace=False)
        baseline = config.stash[state.BASELINE]
        settings = config.stash[state.SETTINGS]
        if baseline is not None and baseline.samples(self.request.node.nodeid):
            verdict = gate.Verdict(
                cell=outcome.cell, status=gate.Status.REGRESSED, current_median=float("inf"), unit="MiB",
                baseline_source=baseline.source, detail=f"ran in the baseline ({baseline.source}), out of memory now",
            )
            config.stash[state.MEMORY_VERDICTS][self.request.node.nodeid] = verdict
            if settings.gate is gate.GateMode.FAIL:
                pytest.fail(f"memory regression: {text} (the baseline ran this cell)", pytrace=False)
            if settings.gate is gate.GateMode.WARN:
                warnings.warn(InfperfRegressionWarning(f"memory regression: {text}"), stacklevel=2)
        pytest.skip(f"OUT OF MEMORY: {text}")

    def _search_max_batch(self, backend: Backend, model: str) -> MaxBatch:
        started = time.monotonic()

        def try_batch(batch: int) -> Probe | Outcome:
            case = dataclasses.replace(self.case, batch=batch)
            kind, value = self._run(f"{self.case.id} (batch {batch})", execute_probe, self._request(backend, case))
            return value

        found = maxbatch.search(self.case.id, model, self.case.max_batch, try_batch)
        found = dataclasses.replace(found, seconds=time.monotonic() - started)
        self.config.stash[state.MAX_BATCH].append(found)
        self.max_batch = found
        if found.largest_ok is None:
            assert found.failure is not None
            self._outcome(dataclasses.replace(found.failure, message=found.failure.message + " (even batch 1)"))
        return found

    def _apply_gate(self, result: CellResult) -> None:
        config = self.config
        settings = config.stash[state.SETTINGS]
        baseline = config.stash[state.BASELINE]
        if baseline is None:
            return
        # pytest-benchmark keys stored cells by the node id; ours are the same
        launch_bound = (result.diagnosis is not None and result.diagnosis.launch_bound) or baseline.launch_bound(
            result.nodeid
        )
        unstable = ""
        if result.case.device == "cuda":
            unstable = gate.instability(dict(result.device_before), dict(result.device_after),
                                        baseline.sm_clock(result.nodeid))
        verdict = gate.decide(
            result.case.id, result.timing.samples, baseline.samples(result.nodeid), settings.policy,
            baseline.source, floor=settings.policy.floor(result.case.device, launch_bound), unstable=unstable,
        )
        config.stash[state.VERDICTS][result.nodeid] = verdict
        phases = dict(result.cold.phases)
        cold = gate.decide_cold(
            result.case.id,
            gate.cold_start_seconds(result.cold.load_s, result.cold.first_call_s, gate.cached_seconds(phases)),
            baseline.cold(result.nodeid), settings.policy, baseline.source,
        )
        config.stash[state.COLD_VERDICTS][result.nodeid] = cold
        failures = [f"performance regression: {v.message()}" for v in (verdict,) if v.status is gate.Status.REGRESSED]
        if cold.status is gate.Status.REGRESSED:
            failures.append(f"cold-start regression: {cold.message()}")
        if result.memory is not None:
            mem = gate.decide_memory(
                result.case.id, result.memory.peak_mib, baseline.memory(result.nodeid), settings.policy
            )
            config.stash[state.MEMORY_VERDICTS][result.nodeid] = mem
            if mem.status is gate.Status.REGRESSED:
                failures.append(f"memory regression: {mem.message()}")
        if not failures or settings.gate is gate.GateMode.OFF:
            return
        if settings.gate is gate.GateMode.FAIL:
            pytest.fail("\n".join(failures), pytrace=False)
        for failure in failures:
            warnings.warn(InfperfRegressionWarning(failure), stacklevel=2)
