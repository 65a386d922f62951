"""PNG plots of a session's results (``--infperf-plot=DIR``): rendering only, matplotlib imported lazily.

Per model: time per image vs batch (one line per backend x device x precision), peak memory vs batch, and, when
the session compared against a baseline, each cell's change against it coloured by verdict. matplotlib's
object-oriented API with the Agg canvas is used directly, so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..compare.gate import Status, Verdict
from ..measure.results import CellResult
from . import recommend
from .fmt import fmt_dims, fmt_time, one_unit, time_unit

INSTALL = "pip install matplotlib  (or pip install 'pytest-infperf[plot]')"
_DPI = 110
_STATUS_COLOURS = {
    Status.REGRESSED: "#d62728",
    Status.IMPROVED: "#2ca02c",
    Status.UNCHANGED: "#7f7f7f",
    Status.NOISY: "#ff7f0e",
    Status.NO_BASELINE: "#bcbd22",
    Status.UNSTABLE: "#9467bd",
}
_MARKERS = {"fp32": "o", "fp16": "s", "bf16": "^", "int8": "D"}
_LINESTYLES = {"cuda": "-", "cpu": "--"}


def require_matplotlib(flag: str = "--infperf-plot") -> None:
    """Fail the option at configuration time, before minutes of measuring, when matplotlib is missing."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a stubbed-out or broken module entry
        found = False
    if not found:
        raise pytest.UsageError(f"{flag}: writing plots needs matplotlib, which is not installed; {INSTALL}")


def slug(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-") or "model"


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _axes(cells: Sequence[CellResult]) -> tuple[bool, bool, bool]:
    """Which of shape, named dims and users tell a model's series apart. The dims count apart from the shape (a
    callable's inputs have shape (), and a dim need not be in the first input); the shape is shown only where it
    varies beyond what the dims say."""
    dims = {r.case.dims for r in cells}
    shaped = {(tuple(r.case.input_shape), r.case.dims) for r in cells}
    return len(shaped) > len(dims), len(dims) > 1, len({r.case.concurrency for r in cells}) > 1


def _series_key(r: CellResult, shapes: bool, dims: bool, users: bool) -> tuple[str, ...]:
    key = (r.case.backend, r.case.device, r.case.precision)
    if shapes:
        key += ("x".join(map(str, r.case.input_shape)),)
    if dims:
        key += (fmt_dims(r.case.dims),)
    if users:
        key += (f"{r.case.concurrency} users",)
    return key


Point = tuple[int, float, float, float]  # batch, value, low and high end of its spread


def _legend_title(cells: Sequence[CellResult]) -> str:
    shapes, dims, users = _axes(cells)
    title = "backend device precision"
    if shapes:
        title += " shape"
    if dims:
        title += " " + " ".join(dict.fromkeys(name for r in cells for name, _ in r.case.dims))
    if users:
        title += " users"
    return title


def _model_title(model: str, cells: Sequence[CellResult]) -> str:
    """The model's name, with its named dims' values when every cell has the same (else the legend shows them)."""
    combos = {r.case.dims for r in cells}
    only = next(iter(combos)) if len(combos) == 1 else ()
    return f"{model} ({fmt_dims(only)})" if only else model


def _series(cells: Sequence[CellResult], value: Any, spread: Any = None) -> dict[tuple[str, ...], list[Point]]:
    axes = _axes(cells)
    out: dict[tuple[str, ...], list[Point]] = {}
    for r in cells:
        y = value(r)
        if y is None or not math.isfinite(y):
            continue
        lo, hi = (spread(r) if spread is not None else None) or (y, y)
        out.setdefault(_series_key(r, *axes), []).append((r.case.batch, y, min(lo, y), max(hi, y)))
    return {k: sorted(v) for k, v in out.items()}


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _line_plot(
    series: Mapping[tuple[str, ...], list[Point]], title: str, ylabel: str, path: Path, scale: float = 1.0,
    log_y: bool = True, legend_title: str = "backend device precision", unit: str = "image",
) -> Path:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    fig, ax = _figure(10, 5.5)
    colours = _colours(len(series))
    batches: set[int] = set()
    values: list[float] = []
    for colour, (key, points) in zip(colours, series.items(), strict=True):
        xs = [p[0] for p in points]
        ys, lows, highs = ([p[i] * scale for p in points] for i in (1, 2, 3))
        batches.update(xs)
        values += ys + lows + highs
        ax.plot(xs, ys, color=colour, marker=_MARKERS.get(key[2], "o"), linestyle=_LINESTYLES.get(key[1], "-."),
                linewidth=1.8, markersize=6, label=" ".join(key))
        if lows != ys or highs != ys:
            ax.errorbar(xs, ys, yerr=[[y - lo for y, lo in zip(ys, lows, strict=True)],
                                      [hi - y for y, hi in zip(ys, highs, strict=True)]],
                        fmt="none", ecolor=colour, elinewidth=1.2, capsize=4, alpha=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(batches))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.xaxis.set_minor_locator(NullLocator())
    positive = [v for v in values if v > 0]
    if log_y and positive and len(positive) == len(values) and max(positive) / min(positive) > 20:
        ax.set_yscale("log")  # CPU and GPU cells differ by orders of magnitude
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_plain))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    else:
        top = max(values, default=0.0) * 1.1 or 1.0
        ax.set_ylim(bottom=-0.03 * top, top=top)  # a cell at 0 stays visible above the axis
    if len(batches) == 1:
        (only,) = batches
        ax.set_xlim(only / 1.5, only * 1.5)
    ax.set_xlabel(f"batch size ({unit}s per call, log scale)")
    ax.set_ylabel(ylabel)
    fig.suptitle(title)
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(loc="outside right center", title=legend_title, fontsize=9, title_fontsize=9)
    fig.savefig(path)
    return path


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _unit(cells: Sequence[CellResult]) -> str:
    """What one sample is called on the axes (image, sequence, ...; "sample" when the model's tests disagree)."""
    from ..inputs import unit

    return one_unit(unit(r.case) for r in cells)


def _per_image(r: CellResult) -> float | None:
    """The table's figure (CellResult.per_image): with several users, 1 / aggregate throughput, not latency / batch."""
    return recommend.per_image_s(r)


def _per_image_iqr(r: CellResult) -> tuple[float, float] | None:
    if r.concurrency is not None:
        return None  # several users: time per image comes from throughput, the rounds' spread is latency
    return r.summary.q1 / r.case.batch, r.summary.q3 / r.case.batch


def time_per_image_plot(model: str, cells: Sequence[CellResult], machine: str, path: Path) -> Path | None:
    series = _series(cells, _per_image, _per_image_iqr)
    if not series:
        return None
    scale, time = time_unit(max(p[3] for points in series.values() for p in points), "µs")
    sample = _unit(cells)
    title = f"{_model_title(model, cells)}: time per {sample} vs batch (median; bars: IQR of the rounds)\n{machine}"
    return _line_plot(series, title, f"time per {sample} ({time}, lower is better)", path, scale,
                      legend_title=_legend_title(cells), unit=sample)


def memory_plot(model: str, cells: Sequence[CellResult], machine: str, path: Path) -> Path | None:
    series = _series(cells, recommend.peak_mib)
    if not series:
        return None
    kinds = {_memory_kind(r) for r in cells if r.memory is not None}
    what = " / ".join(sorted(kinds)) or "peak"
    return _line_plot(series, f"{_model_title(model, cells)}: peak memory vs batch\n{machine}",
                      f"peak memory (MiB, {what})", path, log_y=False, legend_title=_legend_title(cells),
                      unit=_unit(cells))


def _memory_kind(r: CellResult) -> str:
    memory = r.memory
    if memory is not None and memory.process_peak_mib is not None:
        return "process on device"
    if memory is not None and memory.device_peak_mib is not None:
        return "device"
    return "RSS growth"


def baseline_plot(
    model: str, cells: Sequence[CellResult], verdicts: Mapping[str, Verdict], machine: str, path: Path
) -> Path | None:
    """One bar per cell: change of the median against the baseline, coloured by verdict; the grey band is the
    change the cell had to exceed to count (its limit)."""
    from matplotlib.patches import Patch

    rows = [(r, verdicts[r.nodeid]) for r in cells if r.nodeid in verdicts]
    if not rows:
        return None
    rows.reverse()  # barh draws bottom-up: keep the run order top-down
    fig, ax = _figure(10, max(3.0, 0.42 * len(rows) + 1.6))
    changes = [v.change * 100 if v.change is not None else 0.0 for _, v in rows]
    limits = [v.limit * 100 if v.limit is not None else 0.0 for _, v in rows]
    ys = list(range(len(rows)))
    ax.barh(ys, [2 * lim for lim in limits], left=[-lim for lim in limits], height=0.8, color="0.9", zorder=1)
    ax.barh(ys, changes, height=0.55, color=[_STATUS_COLOURS[v.status] for _, v in rows], zorder=2)
    ax.axvline(0, color="0.3", linewidth=0.8, zorder=3)
    span = max([abs(c) for c in changes] + limits + [10.0])
    ax.set_xlim(-span * 1.25, span * 1.25)
    for y, (_, v), change in zip(ys, rows, changes, strict=True):
        if v.baseline_median is None:
            text = v.status.value
        else:
            text = f"{fmt_time(v.baseline_median, 2, 'µs')} → {fmt_time(v.current_median, 2, 'µs')}"
        inside_right = change < 0 or v.change is None
        ax.text(span * 1.2 if inside_right else -span * 1.2, y, text, va="center",
                ha="right" if inside_right else "left", fontsize=8, color="0.2", zorder=4)
    ax.set_yticks(ys, [r.case.id for r, _ in rows], fontsize=9)
    ax.set_xlabel("change of median time per call vs baseline (%, + is slower)")
    fig.suptitle(f"{_model_title(model, cells)}: current vs baseline\n{machine}")
    ax.grid(True, axis="x", alpha=0.3)
    present = [s for s in Status if any(v.status is s for _, v in rows)]
    handles = [Patch(color=_STATUS_COLOURS[s], label=s.value) for s in present]
    handles.append(Patch(color="0.9", label="limit (± change that counts)"))
    fig.legend(handles=handles, loc="outside right center", title="verdict", fontsize=9, title_fontsize=9)
    fig.savefig(path)
    return path


def write_plots(
    results: Sequence[CellResult], verdicts: Mapping[str, Verdict], folder: Path, machine: str
) -> list[Path]:
    """All plots for this session into ``folder``; returns the files written, in order."""
    require_matplotlib()
    folder.mkdir(parents=True, exist_ok=True)
    models: dict[str, list[CellResult]] = {}
    for r in results:
        models.setdefault(r.model, []).append(r)
    written: list[Path] = []
    used: set[str] = set()
    for model, cells in models.items():
        stem = slug(model)
        n = 2
        while stem in used:  # two models whose names sanitise alike
            stem = f"{slug(model)}-{n}"
            n += 1
        used.add(stem)
        for path in (
            time_per_image_plot(model, cells, machine, folder / f"{stem}-time-per-image.png"),
            memory_plot(model, cells, machine, folder / f"{stem}-memory.png"),
            baseline_plot(model, cells, verdicts, machine, folder / f"{stem}-vs-baseline.png"),
        ):
            if path is not None:
                written.append(path)
    return written
