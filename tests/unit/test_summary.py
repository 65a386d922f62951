"""Direct tests of pytest_infperf.report.summary: the terminal sections and the markdown document, from plain data
and a recording terminal (no pytest session)."""

from __future__ import annotations

from pathlib import Path

from helpers import cell

from pytest_infperf.compare.gate import Status, Verdict
from pytest_infperf.measure.maxbatch import MaxBatch
from pytest_infperf.measure.results import Outcome
from pytest_infperf.report import summary


class Terminal:
    """Records what the summary writes: ("section", title, markup) and ("line", text, markup)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def section(self, title: str, sep: str = "=", **markup: object) -> None:
        self.calls.append(("section", title, markup))

    def write_line(self, line: str, **markup: object) -> None:
        self.calls.append(("line", line, markup))

    def lines(self) -> list[str]:
        return [text for kind, text, _ in self.calls if kind == "line"]

    def sections(self) -> list[str]:
        return [text for kind, text, _ in self.calls if kind == "section"]

    def markup(self, text: str) -> dict[str, object]:
        return next(m for kind, t, m in self.calls if t == text)


A, B, C = "t.py::test_net[a]", "t.py::test_net[b]", "t.py::test_net[c]"
RESULTS = [cell("torch", 1, 2.0), cell("onnxruntime", 1, 1.0)]
CRASH = Outcome("crashed", "torch-cuda-fp32-b8", "worker died", exit_signal="SIGSEGV")


def verdict(nodeid: str, status: Status, change: float = 0.5) -> Verdict:
    return Verdict(nodeid, status, current_median=1.5e-3, baseline_median=1e-3, change=change, limit=0.1)


def _write(tr: Terminal, verdicts: dict[str, Verdict] | None = None, **kwargs: object) -> None:
    summary.write_summary(tr, "H200-abc", RESULTS, verdicts or {}, kwargs.pop("other", {}), {}, gate_mode="fail",
                          **kwargs)  # type: ignore[arg-type]


def test_no_results_write_nothing() -> None:
    tr = Terminal()
    summary.write_summary(tr, "m", [], {A: verdict(A, Status.REGRESSED)}, {}, {}, gate_mode="fail")
    assert tr.calls == []


def test_results_section_names_the_machine_then_the_table() -> None:
    tr = Terminal()
    _write(tr)
    assert tr.sections() == ["infperf results"]
    lines = tr.lines()
    assert lines[0] == "machine H200-abc"
    assert any("torch" in line and "2.000 ms" in line for line in lines)
    assert any(line.startswith("recommended for net") for line in lines)
    assert not any("cells" in line and line.endswith(":") for line in lines)  # no verdicts: no verdict lists


def test_xdist_workers_files_and_worker_errors_are_listed() -> None:
    tr = Terminal()
    _write(tr, workers={"gw1": "1", "gw0": ""}, merged_into=["/b/0001_main.json"], worker_errors=["gw1: lost"],
           report_path=Path("r.md"), write_plots=lambda: [Path("p/time.png")])
    lines = tr.lines()
    assert "pytest-xdist: 2 workers (gw0, gw1 on GPU 1); results merged" in lines  # sorted, GPU where pinned
    assert "merged results saved in /b/0001_main.json" in lines
    assert tr.markup("a worker's results could not be collected: gw1: lost") == {"red": True}
    assert "markdown report written to r.md" in lines and "plot written to p/time.png" in lines


def test_verdicts_are_listed_by_status_in_order_with_their_colour() -> None:
    tr = Terminal()
    verdicts = {A: verdict(A, Status.IMPROVED, -0.5), B: verdict(B, Status.REGRESSED), C: verdict(C, Status.UNCHANGED)}
    memory = {A: Verdict(A, Status.REGRESSED, 300.0, 100.0, 2.0, unit="MiB", detail="peak 300 MiB vs 100 MiB")}
    _write(tr, verdicts, other={"memory": memory, "cold start": {}})
    lines = tr.lines()
    titles = [line for line in lines if line.endswith(":") and "cells" in line]
    assert titles == ["memory regressed cells (gate: fail):", "regressed cells (gate: fail):", "improved cells:"]
    regressed = lines[lines.index("regressed cells (gate: fail):") + 1]
    assert regressed.startswith(f"  {B}: {B}: regressed: median 1.500 ms vs baseline 1.000 ms (+50.0%)")
    assert tr.markup(regressed) == {"red": True}
    assert tr.markup("improved cells:") == {"bold": True, "green": True}
    assert lines[lines.index("memory regressed cells (gate: fail):") + 1] == \
        f"  {A}: {A}: regressed: peak 300 MiB vs 100 MiB"
    assert not any(C in line for line in lines if line.startswith("  "))  # unchanged cells are not listed


def test_noisy_and_unstable_cells_are_yellow() -> None:
    tr = Terminal()
    _write(tr, {A: verdict(A, Status.NOISY), B: verdict(B, Status.UNSTABLE)})
    assert tr.markup("noisy cells (cannot decide):") == {"bold": True, "yellow": True}
    assert tr.markup("unstable cells (GPU throttled or at other clocks: not compared):") == {"bold": True,
                                                                                           "yellow": True}


def test_write_outcomes_writes_nothing_without_outcomes_searches_or_concurrency() -> None:
    tr = Terminal()
    summary.write_outcomes(tr, {}, [], RESULTS)
    assert tr.calls == []


def test_write_outcomes_lists_cells_without_a_measurement_in_red_and_kept_logs() -> None:
    tr = Terminal()
    summary.write_outcomes(tr, {A: CRASH}, [], RESULTS, kept_logs=["/tmp/infperf-logs-x"])
    assert tr.sections() == ["infperf cells without a measurement"]
    assert tr.calls[0][2] == {"bold": True, "red": True}
    lines = tr.lines()
    assert lines[0].startswith(f"{A}: torch-cuda-fp32-b8: crashed")
    assert lines[-1] == "worker logs kept in /tmp/infperf-logs-x (a cell crashed or timed out)"
    assert all(tr.markup(line) == {"red": True} for line in lines)


def test_write_outcomes_puts_the_max_batch_table_first() -> None:
    found = [MaxBatch("torch-cpu-fp32-bmax", "net", 64, 64, None, None, ())]
    tr = Terminal()
    summary.write_outcomes(tr, {A: CRASH}, found, [])
    assert tr.sections() == ["infperf largest batch that runs", "infperf cells without a measurement"]
    assert any("torch-cpu-fp32-bmax" in line for line in tr.lines())


def test_markdown_report_without_measurements_still_has_a_title_and_the_other_sections() -> None:
    text = summary.markdown_report("H200-abc", [], {}, {}, {A: CRASH}, [], extra=["## Serving\n\nrows\n", "  \n"])
    assert text.startswith("# Inference performance: H200-abc\n\n## Cells without a measurement\n")
    assert text.endswith("## Serving\n\nrows\n")
    assert "\n\n\n" not in text  # sections are separated by one blank line; blank extras are dropped


def test_markdown_report_with_results_starts_with_the_results_table() -> None:
    text = summary.markdown_report("H200-abc", RESULTS, {}, {}, {}, [])
    assert text.startswith("# Inference performance")
    assert "onnxruntime" in text and text.endswith("\n") and not text.endswith("\n\n")
