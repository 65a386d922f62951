"""Runs one cell end to end: load (cold start), bind random inputs, measure, summarise. No pytest in here."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .backends.base import Backend
from .matrix import Case
from .models import ModelSource
from .results import CellResult, ColdStart
from .stats import summarize
from .timing import TimingPolicy, measure


def random_inputs(case: Case, seed: int) -> np.ndarray:
    """Standard-normal inputs (never zeros: zeros run measurably faster on some kernels), reproducible per cell."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(case.batch_shape, dtype=np.float32)


def run_cell(
    nodeid: str,
    case: Case,
    backend: Backend,
    source: ModelSource,
    policy: TimingPolicy,
    cache_dir: Path,
    seed: int,
) -> CellResult:
    inputs = random_inputs(case, seed)
    start = time.perf_counter()
    session = backend.load(case, source, inputs, cache_dir)
    with session:
        session.synchronize()
        load_s = time.perf_counter() - start
        timing = measure(session.run, session.block_timer(), policy)
        phases = tuple(sorted(getattr(session, "phases", {}).items()))
    return CellResult(
        nodeid=nodeid,
        model=source.name,
        case=case,
        timing=timing,
        summary=summarize(timing.samples),
        cold=ColdStart(load_s=load_s, first_call_s=timing.first_call, phases=phases),
        versions=tuple(sorted(backend.versions().items())),
    )


def smoke_cell(case: Case, backend: Backend, source: ModelSource, cache_dir: Path, seed: int) -> None:
    """``--benchmark-disable``: load and run once, so the matrix is checked without measuring."""
    with backend.load(case, source, random_inputs(case, seed), cache_dir) as session:
        session.run()
        session.synchronize()
