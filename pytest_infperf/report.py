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
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def results_table(results: Sequence[CellResult], verdicts: Mapping[str, Verdict]) -> list[str]:
    headers = ["model", "backend", "device", "precision", "shape", "time/batch", "time/image", "images/s",
               "IQR", "rounds", "first call", "load"]
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
        ]
        if compare:
            v = verdicts.get(r.nodeid)
            row += [
                fmt_time(v.baseline_median) if v else "-",
                f"{v.change:+.1%}" if v and v.change is not None else "-",
                v.status.value if v else "-",
            ]
        row.append("; ".join(r.notes))
        rows.append(row)
    return _table(headers, rows, right={5, 6, 7, 8, 9, 10, 11, 12, 13})


def regression_lines(verdicts: Mapping[str, Verdict], status: Status) -> list[str]:
    return [f"{nodeid}: {v.message()}" for nodeid, v in verdicts.items() if v.status is status]
