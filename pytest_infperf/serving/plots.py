"""PNG plots of serving cells (``--infperf-plot=DIR``), rendering only: per model, throughput and p99 latency against
concurrent users (closed loop) and against the offered request rate (open loop), one line per batcher setting (max
batch, queue delay, instances), as seed 001's table is read. matplotlib is imported lazily (report.plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..report.plots import _figure, require_matplotlib, slug
from .results import Outcome, ServingResult

Series = dict[str, list[tuple[float, float]]]  # line label -> (x, y) points, by x


def _series(results: Sequence[ServingResult], x: Callable[[ServingResult], float],
            y: Callable[[ServingResult], float | None]) -> Series:
    """One line per batcher setting (and request batch, when it varies; shared-memory inputs apart): the cells that
    finished with a figure."""
    batches = {r.load.spec.batch for r in results if r.load is not None}
    lines: Series = {}
    order: dict[str, tuple[int, str]] = {}  # max batch first: mb8 before mb16
    for r in results:
        if r.outcome is not Outcome.OK or r.load is None:
            continue
        value = y(r)
        if value is None:
            continue
        label = r.batcher.id if r.batcher else "user's server"
        if len(batches) > 1:
            label += f" b{r.load.spec.batch}"
        if r.load.spec.shm:  # inputs through shared memory: another load, another line
            label += " shm"
        lines.setdefault(label, []).append((x(r), value))
        order[label] = (r.batcher.max_batch if r.batcher else 0, label)
    return {label: sorted(lines[label]) for label in sorted(lines, key=order.__getitem__)}


def _plot(lines: Series, title: str, xlabel: str, path: Path) -> Path | None:
    if not lines:
        return None
    fig, ax = _figure(7.0, 4.2)
    for label, points in lines.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(title="batcher", fontsize=8, title_fontsize=8)
    fig.savefig(path)
    return path


def write_serving_plots(results: Sequence[ServingResult], folder: Path, machine: str) -> list[Path]:
    """Per model: throughput and p99 vs users, and vs request rate where open-loop cells ran. Returns the files."""
    require_matplotlib()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    models: dict[tuple[str, str], list[ServingResult]] = {}
    for r in results:
        models.setdefault((r.model, r.served), []).append(r)
    for (name, served), cells in models.items():
        closed = [r for r in cells if r.load is not None and not r.load.spec.open_loop]
        opened = [r for r in cells if r.load is not None and r.load.spec.open_loop]
        model = f"{name} ({served})" if served else name
        stem = f"{slug(name)}-{slug(served)}-serving" if served else f"{slug(name)}-serving"
        for group, x, xlabel, name in ((closed, lambda r: float(r.load.spec.users), "concurrent users", "users"),
                                       (opened, lambda r: float(r.load.spec.rate), "offered rate (requests/s)",
                                        "rate")):
            for y, ylabel, what in ((lambda r: r.load.inferences_per_s, "inferences/s", "throughput"),
                                    (lambda r: r.load.percentile_ms(99), "p99 latency (ms)", "p99")):
                path = _plot(_series(group, x, y), f"{model} served by Triton: {ylabel} — {machine}", xlabel,
                             folder / f"{stem}-{what}-vs-{name}.png")
                if path is not None:
                    written.append(path)
    return written
