"""What the session prints at its end and writes with --infperf-report: the results section, the cells without a
measurement, the max-batch and concurrency tables, and the markdown document. Plain data in, text out: the plugin
gathers the session's state and hands it over."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..compare.gate import Status, Verdict
from ..measure.maxbatch import MaxBatch
from ..measure.results import CellResult, Outcome
from . import outcomes as report_outcomes
from . import table


def write_summary(
    tr: Any,
    machine: str,
    results: Sequence[CellResult],
    verdicts: Mapping[str, Verdict],
    other_verdicts: Mapping[str, Mapping[str, Verdict]],
    outcomes: Mapping[str, Outcome],
    *,
    gate_mode: str,
    reference: str = "",
    memory_limit_mib: float | None = None,
    workers: Mapping[str, str] | None = None,
    merged_into: Sequence[str] = (),
    worker_errors: Sequence[str] = (),
    report_path: Path | None = None,
    write_plots: Callable[[], list[Path]] | None = None,
) -> None:
    """The "infperf results" section: machine, xdist workers, the table, recommendations, time breakdown, files
    written, then the cells by verdict (cold-start and memory regressions first)."""
    if not results:
        return
    tr.section("infperf results", sep="-", bold=True)
    tr.write_line(f"machine {machine}")
    if workers:
        pinned = ", ".join(f"{w} on GPU {d}" if d else w for w, d in sorted(workers.items()))
        tr.write_line(f"pytest-xdist: {len(workers)} workers ({pinned}); results merged")
        for path in merged_into:
            tr.write_line(f"merged results saved in {path}")
    for error in worker_errors:
        tr.write_line(f"a worker's results could not be collected: {error}", red=True)
    for line in table.results_table(results, verdicts, reference):
        tr.write_line(line)
    for line in table.recommendation_lines(results, memory_limit_mib, outcomes):
        tr.write_line(line, bold=True)
    breakdown = table.time_breakdown(results)
    if breakdown:
        tr.write_line(breakdown)
    if report_path is not None:
        tr.write_line(f"markdown report written to {report_path}")
    if write_plots is not None:
        for plot in write_plots():
            tr.write_line(f"plot written to {plot}")
    if not verdicts:
        return
    for kind, kind_verdicts in other_verdicts.items():
        lines = table.regression_lines(kind_verdicts, Status.REGRESSED)
        if lines:
            tr.write_line(f"{kind} regressed cells (gate: {gate_mode}):", bold=True, red=True)
            for line in lines:
                tr.write_line(f"  {line}", red=True)
    for status, title, colour in (
        (Status.REGRESSED, f"regressed cells (gate: {gate_mode})", {"red": True}),
        (Status.NOISY, "noisy cells (cannot decide)", {"yellow": True}),
        (Status.UNSTABLE, "unstable cells (GPU throttled or at other clocks: not compared)", {"yellow": True}),
        (Status.IMPROVED, "improved cells", {"green": True}),
    ):
        lines = table.regression_lines(verdicts, status)
        if lines:
            tr.write_line(f"{title}:", bold=True, **colour)
            for line in lines:
                tr.write_line(f"  {line}", **colour)


def write_outcomes(
    tr: Any,
    outcomes: Mapping[str, Outcome],
    found: Sequence[MaxBatch],
    results: Sequence[CellResult],
    kept_logs: Sequence[str] = (),
) -> None:
    """Cells without a measurement, max-batch searches and concurrency scaling."""
    concurrency = report_outcomes.concurrency_table(results)
    if not (outcomes or found or concurrency):
        return
    if found:
        tr.section("infperf largest batch that runs", sep="-", bold=True)
        for line in report_outcomes.max_batch_table(found):
            tr.write_line(line)
    if concurrency:
        tr.section("infperf concurrent users", sep="-", bold=True)
        for line in concurrency:
            tr.write_line(line)
    if outcomes:
        tr.section("infperf cells without a measurement", sep="-", bold=True, red=True)
        for line in report_outcomes.outcome_lines(outcomes):
            tr.write_line(line, red=True)
        for folder in kept_logs:
            tr.write_line(f"worker logs kept in {folder} (a cell crashed or timed out)", red=True)


def markdown_report(
    machine: str,
    results: Sequence[CellResult],
    verdicts: Mapping[str, Verdict],
    other_verdicts: Mapping[str, Mapping[str, Verdict]],
    outcomes: Mapping[str, Outcome],
    found: Sequence[MaxBatch],
    reference: str = "",
    memory_limit_mib: float | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The whole --infperf-report document: the results when any cell measured, then the cells without a
    measurement, the max-batch searches and the concurrency tables, then ``extra`` sections (serving cells)."""
    if results:
        text = table.markdown(results, verdicts, machine, reference, memory_limit_mib, other_verdicts, outcomes)
    else:
        text = f"# Inference performance: {machine}\n"
    sections = report_outcomes.markdown(outcomes, found, results)
    for section in (sections, *extra):
        if section.strip():
            text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    return text
