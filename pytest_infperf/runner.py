"""Runs one cell end to end: load (cold start), bind random inputs, measure, check the output. No pytest in here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import gpu
from .backends.base import Backend
from .matrix import Case
from .memory import MemorySampler
from .models import ModelSource
from .results import CellResult, ColdStart, Diagnosis, OutputCheck
from .stats import summarize
from .timing import TimingPolicy, measure

# max |out - ref| / max |ref| allowed against an fp32 reference, per precision; fp32 allows TF32 convolutions
TOLERANCES = {"fp32": 1e-2, "fp16": 5e-2, "bf16": 1.5e-1, "int8": 2.5e-1}
LAUNCH_BOUND_RATIO = 0.8

Reference = Callable[[np.ndarray], np.ndarray]


def random_inputs(case: Case, seed: int) -> np.ndarray:
    """Standard-normal inputs (never zeros: zeros run measurably faster on some kernels), reproducible per cell."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(case.batch_shape, dtype=np.float32)


def check_output(output: np.ndarray, reference: np.ndarray, precision: str, name: str) -> OutputCheck:
    out = np.asarray(output, dtype=np.float64).reshape(reference.shape)
    scale = float(np.max(np.abs(reference))) or 1.0
    error = float(np.max(np.abs(out - reference))) / scale if out.size else 0.0
    if not np.all(np.isfinite(out)):
        error = float("inf")
    return OutputCheck(reference=name, max_rel_error=error, tolerance=TOLERANCES.get(precision, 1e-2))


def _diagnose(timer: object, samples: tuple[float, ...]) -> Diagnosis | None:
    host = getattr(timer, "host_enqueue", None)
    if not host:
        return None
    host_s = float(np.median(host[-len(samples):]))
    device_s = float(np.median(samples))
    return Diagnosis(host_s, device_s, launch_bound=host_s >= LAUNCH_BOUND_RATIO * device_s)


def _device_state(case: Case) -> tuple[tuple[str, object], ...]:
    if case.device != "cuda":
        return ()
    import torch

    return tuple(sorted(gpu.device_state(torch.cuda.current_device()).items()))


MEMORY_PASS_CALLS = 5
LEAK_NOTE_MIB = 64.0


def run_cell(
    nodeid: str,
    case: Case,
    backend: Backend,
    source: ModelSource,
    policy: TimingPolicy,
    cache_dir: Path,
    seed: int,
    reference: Reference | None = None,
    memory: bool = True,
) -> CellResult:
    inputs = random_inputs(case, seed)
    before = _device_state(case)
    sampler = MemorySampler(case.device) if memory else None
    with sampler if sampler is not None else contextlib.nullcontext():
        start = time.perf_counter()
        session = backend.load(case, source, inputs, cache_dir)
        with session:
            session.synchronize()
            load_s = time.perf_counter() - start
            if sampler is not None:
                sampler.pause()  # never sample during the timed blocks
            timer = session.block_timer()
            timing = measure(session.run, timer, policy)
            after = _device_state(case)
            if sampler is not None:
                sampler.resume()  # a short separate pass for the steady-state memory
                for _ in range(MEMORY_PASS_CALLS):
                    session.run()
                session.synchronize()
            check = None
            if reference is not None:
                check = check_output(session.output(), reference(inputs), case.precision, "torch fp32")
            phases = tuple(sorted(getattr(session, "phases", {}).items()))
            details = tuple(sorted(getattr(session, "details", {}).items()))
    mem = None
    if sampler is not None:
        # release, then verify: a backend that frees nothing would poison the next cell's numbers
        mem = sampler.stats(leaked_mib=sampler.held_after_release() if case.device == "cuda" else None)
    return CellResult(
        nodeid=nodeid,
        model=source.name,
        case=case,
        timing=timing,
        summary=summarize(timing.samples),
        cold=ColdStart(load_s=load_s, first_call_s=timing.first_call, phases=phases),
        versions=tuple(sorted(backend.versions().items())),
        details=details,
        check=check,
        diagnosis=_diagnose(timer, timing.samples),
        device_before=before,
        device_after=after,
        memory=mem,
    )


def smoke_cell(case: Case, backend: Backend, source: ModelSource, cache_dir: Path, seed: int) -> None:
    """``--benchmark-disable``: load and run once, so the matrix is checked without measuring."""
    with backend.load(case, source, random_inputs(case, seed), cache_dir) as session:
        session.run()
        session.synchronize()
