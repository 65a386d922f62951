"""Rendering only: turns results and verdicts into text. Decides nothing.

The table reads like seed 002's (backend, device, precision, shape, time per batch, time per image, memory, speedup,
FLOPs), plus images/s, achieved TFLOP/s, the comparison with the baseline, and the measurement's own figures (IQR,
rounds, cold start). A value a cell does not have (no memory sampled, no FLOP count, a cell that failed) shows "-".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..compare.gate import Status, Verdict
from ..measure.results import CellResult, Outcome
from . import recommend
from .fmt import MISSING, columns, fmt_dims, fmt_flops, fmt_mib, fmt_tflops, fmt_time, markdown_table, one_unit


def _shape(r: CellResult) -> str:
    """The batch's shape (of the first input, for several), then the named dims it does not show: a callable's
    inputs have no shape here, and a dim need not be in the first input (``8x3x224x224 boxes100``)."""
    case = r.case
    shown = set(case.inputs.specs[0].shape) if case.inputs is not None and case.inputs.specs else set()
    hidden = tuple((name, value) for name, value in case.dims if name not in shown)
    return " ".join(part for part in ("x".join(map(str, case.batch_shape)), fmt_dims(hidden, "")) if part)


def speedups(results: Sequence[CellResult], reference: str) -> dict[str, float]:
    """Per-image speedup of each cell against the cell whose id is ``reference`` (same model)."""
    if not reference:
        return {}
    refs = {r.model: r for r in results if r.case.id == reference}
    out = {}
    for r in results:
        ref = refs.get(r.model)
        if ref is not None and r.per_image > 0:
            out[r.nodeid] = ref.per_image / r.per_image
    return out


def _unit(results: Sequence[CellResult]) -> str:
    """The per-sample unit of the table: the tests' own when they agree (image, sequence, ...), else "sample"."""
    from ..inputs import unit

    return one_unit(unit(r.case) for r in results)


_LEFT = {"model", "backend", "device", "precision", "shape", "verdict", "notes"}


def table_rows(
    results: Sequence[CellResult], verdicts: Mapping[str, Verdict], reference: str = ""
) -> tuple[list[str], list[list[str]]]:
    users = any(r.case.concurrency > 1 for r in results)
    headers = ["model", "backend", "device", "precision", "shape"]
    if users:
        headers.append("users")
    sample = _unit(results)
    tokens = any(r.tokens_per_s is not None for r in results)
    headers += ["time/batch", f"time/{sample}", f"{sample}s/s", *(["tokens/s"] if tokens else []), "memory"]
    speed = speedups(results, reference)
    if reference:
        headers.append(f"speedup vs {reference}")
    headers += [f"FLOPs/{sample}", "TFLOP/s"]
    compare = bool(verdicts)
    if compare:
        headers += ["baseline", "current", "change", "verdict"]
    headers += ["IQR", "rounds", "first call", "load", "notes"]
    rows = []
    for r in results:
        row = [r.model, r.case.backend, r.case.device, r.case.precision, _shape(r)]
        if users:
            row.append(str(r.case.concurrency))
        row += [
            fmt_time(r.summary.median),
            fmt_time(r.per_image),
            f"{r.images_per_s:,.1f}",
            *([f"{r.tokens_per_s:,.0f}" if r.tokens_per_s is not None else MISSING] if tokens else []),
            fmt_mib(recommend.peak_mib(r)),
        ]
        if reference:
            row.append(f"{speed[r.nodeid]:.2f}x" if r.nodeid in speed else MISSING)
        row += [fmt_flops(r.flops_per_image), fmt_tflops(r.tflops_per_s)]
        if compare:
            v = verdicts.get(r.nodeid)
            row += [
                fmt_time(v.baseline_median) if v else MISSING,
                fmt_time(v.current_median) if v else MISSING,
                f"{v.change:+.1%}" if v and v.change is not None else MISSING,
                v.status.value if v else MISSING,
            ]
        row += [
            f"{r.summary.rel_iqr:.1%}",
            f"{r.summary.n}x{r.timing.block_size}",
            fmt_time(r.cold.first_call_s),
            fmt_time(r.cold.load_s),
            "; ".join(r.notes),
        ]
        rows.append(row)
    return headers, rows


def _right(headers: Sequence[str]) -> set[int]:
    return {i for i, h in enumerate(headers) if h not in _LEFT}


def results_table(results: Sequence[CellResult], verdicts: Mapping[str, Verdict], reference: str = "") -> list[str]:
    headers, rows = table_rows(results, verdicts, reference)
    return columns(headers, rows, _right(headers))


def _pick(label: str, cell: CellResult | None, detail: Callable[[CellResult], str], missing: str) -> str:
    if cell is None:
        return f"{label}: {missing}"
    return f"{label}: {cell.case.id} ({detail(cell)})"


def _throughput(cell: CellResult) -> str:
    from ..inputs import unit

    sample = unit(cell.case)
    return f"{fmt_time(cell.per_image)}/{sample}, {cell.images_per_s:,.1f} {sample}s/s"


def recommendation_lines(results: Sequence[CellResult], memory_limit_mib: float | None = None,
                         outcomes: Mapping[str, Outcome] | None = None) -> list[str]:
    """One line per model (and input shape and named dims' values): fastest per image (per the tests' unit), lowest
    latency at batch 1, fastest within the memory limit when one is given. ``outcomes`` (the session's
    crashed/OOM/... cells) say why a measured batch-1 cell gave no pick."""
    lines = []
    for rec in recommend.recommend(results, memory_limit_mib, outcomes):
        parts = [
            _pick(f"fastest per {rec.unit}", rec.fastest, _throughput, "none (no cell measured a usable number)"),
            _pick("lowest latency at batch 1", rec.lowest_latency,
                  lambda c: f"{fmt_time(c.summary.median)} per call", rec.latency_missing),
        ]
        if rec.memory_limit_mib is not None:
            label = f"fastest within {rec.memory_limit_mib:,.0f} MiB"
            if rec.within_memory is not None:
                parts.append(_pick(label, rec.within_memory,
                                   lambda c: f"{_throughput(c)}, {fmt_mib(recommend.peak_mib(c))}", ""))
            elif rec.smallest_memory is not None:
                small = rec.smallest_memory
                parts.append(f"{label}: none (least memory: {small.case.id} at "
                             f"{fmt_mib(recommend.peak_mib(small))})")
            else:
                parts.append(f"{label}: none (no cell has a memory figure; memory sampling is ini infperf_memory)")
        what = ", ".join(part for part in ("x".join(map(str, rec.input_shape)), fmt_dims(rec.dims)) if part)
        lines.append(f"recommended for {rec.model}{f' ({what})' if what else ''}: " + "; ".join(parts))
    return lines


_ORDER = {Status.REGRESSED: 0, Status.NOISY: 1, Status.UNSTABLE: 2, Status.IMPROVED: 3, Status.NO_BASELINE: 4,
          Status.UNCHANGED: 5}


def markdown(
    results: Sequence[CellResult],
    verdicts: Mapping[str, Verdict],
    machine: str,
    reference: str = "",
    memory_limit_mib: float | None = None,
    other_verdicts: Mapping[str, Mapping[str, Verdict]] | None = None,
    outcomes: Mapping[str, Outcome] | None = None,
) -> str:
    """The results as a markdown document for job summaries and PR comments: regressions first (time, then the
    ``other_verdicts`` kinds such as cold-start and memory), the recommendations, then the table with regressed
    cells at the top."""
    other = other_verdicts or {}
    lines = [f"# Inference performance: {machine}", ""]
    if verdicts:
        counts = {s: sum(1 for v in verdicts.values() if v.status is s) for s in Status}
        summary = [f"{n} {s.value}" for s, n in counts.items() if n]
        summary += [f"{n} {kind} regressed" for kind, kv in other.items()
                    if (n := sum(1 for v in kv.values() if v.status is Status.REGRESSED))]
        lines += [", ".join(summary), ""]
    flagged = [f"- **regressed**: {v.message()}" for v in verdicts.values() if v.status is Status.REGRESSED]
    flagged += [f"- **{kind} regressed**: {v.message()}" for kind, kv in other.items()
                for v in kv.values() if v.status is Status.REGRESSED]
    flagged += [f"- **noisy**: {v.message()}" for v in verdicts.values() if v.status is Status.NOISY]
    flagged += [f"- **unstable**: {v.message()}" for v in verdicts.values() if v.status is Status.UNSTABLE]
    if flagged:
        lines += [*flagged, ""]
    recs = recommendation_lines(results, memory_limit_mib, outcomes)
    if recs:
        lines += [f"- {line}" for line in recs] + [""]
    headers, rows = table_rows(results, verdicts, reference)
    if verdicts or other:
        def rank(r: CellResult) -> int:
            if any(kv.get(r.nodeid) is not None and kv[r.nodeid].status is Status.REGRESSED for kv in other.values()):
                return 0
            v = verdicts.get(r.nodeid)
            return _ORDER[v.status] if v is not None else len(_ORDER)

        paired = sorted(zip(results, rows, strict=True), key=lambda pair: rank(pair[0]))
        rows = [row for _, row in paired]
    lines += markdown_table(headers, rows, _right(headers), escape=True)
    return "\n".join(lines) + "\n"


def regression_lines(verdicts: Mapping[str, Verdict], status: Status) -> list[str]:
    return [f"{nodeid}: {v.message()}" for nodeid, v in verdicts.items() if v.status is status]


def time_breakdown(results: Sequence[CellResult]) -> str:
    """Where the session's measuring time went, summed over every repeat of every cell."""
    repeats = [r for result in results for r in result.repeats]
    if not repeats:
        return ""
    confirm = sum(1 for r in repeats if r.confirm)
    waited = sum(r.waited_s for r in repeats)
    load = sum(r.cold.load_s + r.cold.first_call_s for r in repeats)
    warm = sum(r.timing.warmup_time for r in repeats)
    timed = sum(r.timing.measure_time for r in repeats)
    rest = sum(r.wall_s for r in repeats) - load - warm - timed  # memory pass, output check, diagnosis, release
    parts: dict[str, float] = {}
    for r in repeats:
        for name, seconds in r.laps:
            if name not in MEASURING_LAPS:
                parts[name] = parts.get(name, 0.0) + seconds
    split = ", ".join(f"{name.removesuffix('_s').replace('_', ' ')} {seconds:.1f}"
                      for name, seconds in sorted(parts.items(), key=lambda item: -item[1]) if seconds >= 0.05)
    return (f"time: {len(results)} cells, {len(repeats) - confirm} repeats"
            + (f" + {confirm} confirmation repeats" if confirm else "")
            + (f" ({waited:.0f} s waited for a slow host)" if waited else "")
            + f"; load and first call {load:.1f} s, warm-up {warm:.1f} s, timed blocks {timed:.1f} s"
            + (f", the rest of each repeat {rest:.1f} s" if rest > 0 else "")
            + (f" ({split})" if rest > 0 and split else ""))


MEASURING_LAPS = ("load_s", "measure_s")  # the laps that the load, first call, warm-up and timed figures cover
