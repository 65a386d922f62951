"""Rendering of what is not a timed cell: outcomes (oom, crash, timeout), max-batch searches, concurrency scaling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..measure.maxbatch import MaxBatch, TryStatus
from ..measure.results import CellResult, Outcome
from .fmt import Rows, columns, fmt_ms, markdown_table


def outcome_lines(outcomes: Mapping[str, Outcome]) -> list[str]:
    return [f"{nodeid}: {o.describe()}" for nodeid, o in outcomes.items()]


def max_batch_table(found: Sequence[MaxBatch]) -> list[str]:
    return columns(*max_batch_rows(found))


def max_batch_rows(found: Sequence[MaxBatch]) -> Rows:
    headers = ["model", "cell", "largest batch that ran", "first failing", "limited by", "peak memory at largest",
               "time/batch at largest", "tries", "search time"]
    rows = []
    for m in found:
        at_largest = next((t for t in m.tries if t.batch == m.largest_ok and t.status is TryStatus.OK), None)
        rows.append([
            m.model, m.cell, str(m.largest_ok) if m.largest_ok is not None else "none",
            str(m.smallest_failing) if m.smallest_failing is not None else f"- (limit {m.limit})",
            m.limited_by, f"{m.peak_mib:,.0f} MiB" if m.peak_mib is not None else "-",
            fmt_ms(at_largest.seconds_per_batch if at_largest else None), str(len(m.tries)), f"{m.seconds:.0f} s",
        ])
    return headers, rows


def concurrency_table(results: Sequence[CellResult]) -> list[str]:
    headers, rows = concurrency_rows(results)
    return columns(headers, rows) if rows else []


def concurrency_rows(results: Sequence[CellResult]) -> Rows:
    """How throughput scales with users, per cell without its concurrency: users, images/s, scaling, latencies."""
    groups: dict[tuple[str, str, str, str, int, tuple[int, ...]], list[CellResult]] = {}
    for r in results:
        key = (r.model, r.case.backend, r.case.device, r.case.precision, r.case.batch, r.case.input_shape)
        groups.setdefault(key, []).append(r)
    groups = {k: v for k, v in groups.items() if any(r.case.concurrency > 1 for r in v)}
    headers = ["model", "backend", "device", "precision", "batch", "users", "images/s", "vs 1 user", "p50", "p90",
               "p99", "fairness"]
    rows = []
    for (model, backend, device, precision, batch, _), cells in groups.items():
        cells = sorted(cells, key=lambda r: r.case.concurrency)
        single = next((r.images_per_s for r in cells if r.case.concurrency == 1), None)
        for r in cells:
            c = r.concurrency
            p50, p90, p99 = (c.p50_s, c.p90_s, c.p99_s) if c else (r.summary.median, r.summary.p90, r.summary.p99)
            rows.append([
                model, backend, device, precision, str(batch), str(r.case.concurrency), f"{r.images_per_s:,.1f}",
                f"{r.images_per_s / single:.2f}x" if single else "-", fmt_ms(p50), fmt_ms(p90), fmt_ms(p99),
                f"{c.fairness:.2f}" if c else "-",
            ])
    return headers, rows


def markdown(outcomes: Mapping[str, Outcome], found: Sequence[MaxBatch], results: Sequence[CellResult]) -> str:
    """Sections appended to the markdown report: outcomes first, then max batch and concurrency tables."""

    out: list[str] = []
    if outcomes:
        out += ["## Cells without a measurement", ""]
        out += [f"- **{o.title}**: `{nodeid}`: {o.describe()}" for nodeid, o in outcomes.items()]
        out.append("")
    if found:
        out += ["## Largest batch that runs", "", *markdown_table(*max_batch_rows(found)), ""]
    headers, rows = concurrency_rows(results)
    if rows:
        out += ["## Concurrent users", "", *markdown_table(headers, rows), ""]
    return "\n".join(out)
