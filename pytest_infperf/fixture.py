"""The ``infperf`` fixture's object: measures its cell, records it for pytest-benchmark, applies the gate."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import gate, state
from .errors import ModelError
from .matrix import Case
from .models import ModelSource, ModelSpec
from .results import CellResult
from .runner import run_cell, smoke_cell

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

    @property
    def config(self) -> pytest.Config:
        return self.request.config

    def _source(self) -> ModelSource:
        sources = self.config.stash[state.SOURCES]
        key = (self.spec.kind, id(self.spec.target) if self.spec.kind == "callable" else str(self.spec.target))
        if key not in sources:
            settings = self.config.stash[state.SETTINGS]
            sources[key] = self.spec.resolve(self.config.rootpath, settings.seed)
        return sources[key]

    def _cache_dir(self) -> Path:
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            return Path(cache.mkdir("infperf-onnx"))
        return Path(self.config.rootpath) / ".infperf-cache"

    def benchmark(self) -> CellResult | None:
        config = self.config
        settings = config.stash[state.SETTINGS]
        backend: Backend = config.hook.pytest_infperf_make_backend(config=config, name=self.case.backend)
        try:
            source = self._source()
            reason = backend.unavailable_reason(self.case, source)
            if reason:
                pytest.skip(reason)
            backend.prepare(source)
            if self._benchmark.disabled:
                smoke_cell(self.case, backend, source, self._cache_dir(), settings.seed)
                return None
            result = run_cell(
                self.request.node.nodeid, self.case, backend, source, settings.timing, self._cache_dir(),
                settings.seed, reference=source.reference_output if settings.check_outputs else None,
                memory=settings.memory,
            )
        except ModelError as exc:
            pytest.fail(f"{self.case.id}: {exc}", pytrace=False)
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
        verdict = gate.decide(
            result.case.id, result.timing.samples, baseline.samples(result.nodeid), settings.policy,
            baseline.source, floor=settings.policy.floor(result.case.device, launch_bound),
        )
        config.stash[state.VERDICTS][result.nodeid] = verdict
        phases = dict(result.cold.phases)
        cold = gate.decide_cold(
            result.case.id,
            gate.cold_start_seconds(result.cold.load_s, result.cold.first_call_s, phases.get("export_s", 0.0)),
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
