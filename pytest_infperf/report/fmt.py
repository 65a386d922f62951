"""The one place numbers and tables become text: times, FLOPs, memory, aligned terminal tables, markdown tables.

A leaf module (no imports from the package), so the compare layer's verdict messages use it too."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

MISSING = "-"

Rows = tuple[list[str], list[list[str]]]


def time_unit(seconds: float, micro: str = "us") -> tuple[float, str]:
    """The factor and unit that suit a time: s from 1 s, ms from 1 ms, else ``micro`` (µs). A plot's axis takes the
    unit of its largest value, so every value on it is written in one unit."""
    if seconds >= 1.0:
        return 1.0, "s"
    if seconds >= 1e-3:
        return 1e3, "ms"
    return 1e6, micro


def fmt_number(value: float | None, spec: str = ".1f") -> str:
    """A plain number in the format ``spec`` (``.2f``, ``g``); missing or non-finite is `MISSING`."""
    return MISSING if value is None or not math.isfinite(value) else format(value, spec)


def fmt_time(seconds: float | None, digits: int = 3, micro: str = "us") -> str:
    """A time in the unit that suits it: ``1.234 s``, ``12.345 ms``, ``56.7 us`` (``micro`` spells the last)."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    scale, unit = time_unit(seconds, micro)
    if scale == 1e6:
        digits = 1  # microseconds: a tenth is precise enough
    return f"{seconds * scale:.{digits}f} {unit}"


def fmt_ms(seconds: float | None, digits: int = 2) -> str:
    """A time always in milliseconds, for columns and messages that compare times side by side."""
    return MISSING if seconds is None else f"{seconds * 1e3:.{digits}f} ms"


def fmt_flops(flops: float | None) -> str:
    """FLOPs with an SI prefix: 3.63 GFLOP (a multiply-add counts 2)."""
    if flops is None or not math.isfinite(flops) or flops <= 0:
        return MISSING
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if flops >= scale:
            return f"{flops / scale:.2f} {prefix}FLOP"
    return f"{flops:.0f} FLOP"


def fmt_tflops(tflops: float | None) -> str:
    if tflops is None or not math.isfinite(tflops) or tflops <= 0:
        return MISSING
    if tflops >= 10:
        return f"{tflops:,.1f}"
    if tflops >= 0.01:
        return f"{tflops:.3f}"
    if tflops >= 0.001:
        return f"{tflops:.4f}"
    return f"{tflops:.1e}"


def fmt_mib(mib: float | None) -> str:
    return MISSING if mib is None or not math.isfinite(mib) else f"{mib:,.1f} MiB"


def one_unit(units: Iterable[str]) -> str:
    """The per-sample unit of a table or plot: the cells' own when they agree (image, sequence, ...), else "sample"."""
    distinct = set(units)
    return distinct.pop() if len(distinct) == 1 else "sample"


def fmt_dims(dims: Sequence[tuple[str, int]], joiner: str = "=") -> str:
    """A cell's named dims (Case.dims): ``seq=128 n=6``; ``joiner=""`` writes them as cell ids do, ``seq128``."""
    return " ".join(f"{name}{joiner}{value}" for name, value in dims)


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """An aligned plain-text table (header, dashes, rows); the columns numbered in ``right`` align right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = (),
                   escape: bool = False) -> list[str]:
    """A markdown table; the columns numbered in ``right`` align right; ``escape`` guards ``|`` inside cells."""
    rule = "|" + "".join("---:|" if i in right else "---|" for i in range(len(headers)))
    body = (row if not escape else [cell.replace("|", "\\|") for cell in row] for row in rows)
    return ["| " + " | ".join(headers) + " |", rule, *("| " + " | ".join(row) + " |" for row in body)]
