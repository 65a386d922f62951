"""Rendering only: turns results and verdicts into text. Decides nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .gate import Status, Verdict
from .results import CellResult


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs)

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def speedups(results: Sequence[CellResult], reference: str) -> dict[str, float]:
    """Per-image speedup of each cell against the cell whose id is ``reference`` (same model)."""
    if not reference:
        return {}
    refs = {r.model: r for r in results if r.case.id == reference}
    return {r.nodeid: refs[r.model].per_image / r.per_image for r in results if r.model in refs}


def table_rows(
    results: Sequence[CellResult], verdicts: Mapping[str, Verdict], reference: str = ""
) -> tuple[list[str], list[list[str]]]:
    headers = ["model", "backend", "device", "precision", "shape", "time/batch", "time/image", "images/s",
               "IQR", "rounds", "first call", "load", "memory"]
    speed = speedups(results, reference)
    if reference:
        headers.append(f"speedup vs {reference}")
    compare = bool(verdicts)
    if compare:
        headers += ["baseline", "change", "verdict"]
    headers.append("notes")
    rows = []
    for r in results:
        row = [
            r.model, r.case.backend, r.case.device, r.case.precision, "x".join(map(str, r.case.batch_shape)),
            fmt_time(r.summary.median), fmt_time(r.per_image), f"{r.images_per_s:,.1f}",
            f"{r.summary.rel_iqr:.1%}", f"{r.summary.n}x{r.timing.block_size}",
            fmt_time(r.cold.first_call_s), fmt_time(r.cold.load_s),
            f"{r.memory.peak_mib:,.1f} MiB" if r.memory is not None else "-",
        ]
        if reference:
            row.append(f"{speed[r.nodeid]:.2f}x" if r.nodeid in speed else "-")
        if compare:
            v = verdicts.get(r.nodeid)
            row += [
                fmt_time(v.baseline_median) if v else "-",
                f"{v.change:+.1%}" if v and v.change is not None else "-",
                v.status.value if v else "-",
            ]
        row.append("; ".join(r.notes))
        rows.append(row)
    return headers, rows


def results_table(results: Sequence[CellResult], verdicts: Mapping[str, Verdict], reference: str = "") -> list[str]:
    headers, rows = table_rows(results, verdicts, reference)
    return _table(headers, rows, right=set(range(5, len(headers) - 2)))


_ORDER = {Status.REGRESSED: 0, Status.NOISY: 1, Status.IMPROVED: 2, Status.NO_BASELINE: 3, Status.UNCHANGED: 4}


def markdown(
    results: Sequence[CellResult], verdicts: Mapping[str, Verdict], machine: str, reference: str = ""
) -> str:
    """The results as a markdown document: regressions first, then the table (for job summaries and PR comments)."""
    lines = [f"# Inference performance: {machine}", ""]
    flagged = sorted((v for v in verdicts.values() if v.status in (Status.REGRESSED, Status.NOISY)),
                     key=lambda v: _ORDER[v.status])
    if verdicts:
        counts = {s: sum(1 for v in verdicts.values() if v.status is s) for s in Status}
        lines += [", ".join(f"{n} {s.value}" for s, n in counts.items() if n), ""]
    for v in flagged:
        lines.append(f"- **{v.status.value}**: {v.message()}")
    if flagged:
        lines.append("")
    headers, rows = table_rows(results, verdicts, reference)
    if verdicts:
        order = {r.nodeid: _ORDER[verdicts[r.nodeid].status] if r.nodeid in verdicts else 5 for r in results}
        paired = sorted(zip(results, rows, strict=True), key=lambda pair: order[pair[0].nodeid])
        rows = [row for _, row in paired]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---:" if 5 <= i < len(headers) - 2 else "---" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def regression_lines(verdicts: Mapping[str, Verdict], status: Status) -> list[str]:
    return [f"{nodeid}: {v.message()}" for nodeid, v in verdicts.items() if v.status is status]
