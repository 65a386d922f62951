"""Which configuration to pick, per model, input shape and named dims: pure selection over measured cells (no
rendering).

Three picks, each among the cells that produced a usable number (a cell whose output check failed, or that has an
outcome in the session, i.e. did not run to the end, is never recommended: a fast but wrong or crashed cell is not a
result):

- fastest per image: the most images per second, any batch;
- lowest latency at batch 1: the smallest median time per call among batch-1 cells with one user;
- fastest within a memory limit (``--infperf-memory-limit``): the most images per second among cells whose peak
  memory is known and within the limit.

Ties keep the cell that ran first, so the choice is deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..inputs import unit
from ..measure.results import CellResult, Outcome

NO_BATCH_1 = "- (no batch-1 cell; add 1 to --infperf-batches)"


@dataclass(frozen=True)
class Recommendation:
    model: str
    input_shape: tuple[int, ...]
    dims: tuple[tuple[str, int], ...]  # the named dims' values (Case.dims): cells with other values are another group
    fastest: CellResult | None  # highest images/s
    lowest_latency: CellResult | None  # lowest time per call at batch 1 (None: no batch-1 cell)
    memory_limit_mib: float | None = None  # None: no limit asked for
    within_memory: CellResult | None = None  # highest images/s with peak memory <= the limit
    smallest_memory: CellResult | None = None  # the cell with the least known peak memory (when none fits)
    # what to show instead of lowest_latency when it is None: batch 1 was not selected, or why its cells are unusable
    latency_missing: str = NO_BATCH_1
    unit: str = "image"  # what one sample is called (inputs.unit: image, sequence, ...)


def _value(get: Callable[[], float]) -> float | None:
    """A figure the cell measured, or None where it is not a usable number (non-finite, zero). A cell that lacks the
    field is a bug upstream and raises: a recommendation must not hide it."""
    value = float(get())
    return value if math.isfinite(value) and value > 0 else None


def images_per_s(result: CellResult) -> float | None:
    return _value(lambda: result.images_per_s)


def latency_s(result: CellResult) -> float | None:
    return _value(lambda: result.summary.median)


def per_image_s(result: CellResult) -> float | None:
    """Time per image as the results table shows it (CellResult.per_image: 1 / aggregate throughput with users)."""
    return _value(lambda: result.per_image)


def peak_mib(result: CellResult) -> float | None:
    """The cell's peak memory as the gate compares it (the least of its repeats' peaks)."""
    value = result.memory_peak_mib
    return float(value) if value is not None and math.isfinite(value) else None


def usable(result: CellResult, outcomes: Mapping[str, Outcome] | None = None) -> bool:
    """A cell that measured a real, correct number and ran to the end: no outcome (OOM, crash, timeout, error) is
    recorded for it in ``outcomes``, the session's outcomes by node id (a CellResult has no outcome of its own)."""
    if result.check is not None and not result.check.ok:
        return False
    if outcomes and result.nodeid in outcomes:
        return False
    return images_per_s(result) is not None


def _why_unusable(result: CellResult, outcomes: Mapping[str, Outcome]) -> str:
    if result.nodeid in outcomes:
        return outcomes[result.nodeid].title
    if result.check is not None and not result.check.ok:
        return "wrong output"
    return "no usable time"


def _batch_1_suffixes(cells: Sequence[CellResult]) -> set[str]:
    """The end of the id of a batch-1 single-user cell in these cells' group (shape and named dims alike), after the
    backend, device and precision: ``-b1``, ``-b1-3x224x224``, ``-b1-seq128``."""
    out = set()
    for c in cells:
        case = dataclasses.replace(c.case, batch=1, concurrency=1, max_batch=0)
        out.add(case.id.removeprefix(f"{case.backend}-{case.device}-{case.precision}"))
    return out


def _batch_1_outcomes(cells: Sequence[CellResult], outcomes: Mapping[str, Outcome]) -> list[tuple[str, str]]:
    """(cell, why) for the batch-1 single-user cells of these cells' tests (and their shape and named dims) that
    ended without a measurement: they have no CellResult, only an outcome."""
    tests = {c.nodeid.partition("[")[0] for c in cells}
    measured = {c.nodeid for c in cells}  # named by the caller already
    suffixes = _batch_1_suffixes(cells)
    out = []
    for nodeid, outcome in outcomes.items():
        if nodeid in measured or nodeid.partition("[")[0] not in tests or outcome.batch != 1:
            continue
        if any(outcome.cell.endswith(suffix) for suffix in suffixes):
            out.append((outcome.cell, outcome.title))
    return out


def _concurrency(result: CellResult) -> int:
    return result.case.concurrency


def _fits(result: CellResult, limit_mib: float) -> bool:
    peak = peak_mib(result)
    return peak is not None and peak <= limit_mib


def _best(cells: Sequence[CellResult], key: object, highest: bool) -> CellResult | None:
    best: CellResult | None = None
    best_value = 0.0
    for cell in cells:
        value = key(cell)  # type: ignore[operator]
        if value is None:
            continue
        if best is None or (value > best_value if highest else value < best_value):
            best, best_value = cell, value
    return best


def recommend(
    results: Sequence[CellResult], memory_limit_mib: float | None = None,
    outcomes: Mapping[str, Outcome] | None = None,
) -> list[Recommendation]:
    """One recommendation per model, input shape and named dims' values, in the order the models first ran.
    ``outcomes`` (the session's, by node id) keeps cells that did not run to the end out, and says why batch 1 has no
    pick when it was selected."""
    outcomes = outcomes or {}
    # the dims apart from the shape: a callable's inputs have shape (), and a dim need not be in the first input
    groups: dict[tuple[str, tuple[int, ...], tuple[tuple[str, int], ...]], list[CellResult]] = {}
    for result in results:
        groups.setdefault((result.model, tuple(result.case.input_shape), result.case.dims), []).append(result)
    out = []
    for (model, shape, dims), cells in groups.items():
        ok = [c for c in cells if usable(c, outcomes)]
        b1 = [c for c in ok if c.case.batch == 1 and _concurrency(c) == 1]
        tried = [(c.case.id, _why_unusable(c, outcomes)) for c in cells
                 if c.case.batch == 1 and _concurrency(c) == 1 and not usable(c, outcomes)]
        tried += _batch_1_outcomes(cells, outcomes)
        missing = f"none ({'; '.join(f'{cell}: {why}' for cell, why in tried)})" if tried else NO_BATCH_1
        within = smallest = None
        if memory_limit_mib is not None:
            fits = [c for c in ok if _fits(c, memory_limit_mib)]
            within = _best(fits, images_per_s, highest=True)
            smallest = _best(ok, peak_mib, highest=False) if within is None else None
        out.append(Recommendation(
            model=model, input_shape=shape, dims=dims,
            fastest=_best(ok, images_per_s, highest=True),
            lowest_latency=_best(b1, latency_s, highest=False),
            memory_limit_mib=memory_limit_mib, within_memory=within, smallest_memory=smallest,
            latency_missing=missing, unit=unit(cells[0].case),
        ))
    return out
