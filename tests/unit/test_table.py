"""The results table, its markdown document and the recommendation lines, from cells built directly."""

from __future__ import annotations

import dataclasses

import pytest
from dims_cells import CALLABLE, HIDDEN, SPECS, dims_cell
from helpers import cell

from pytest_infperf.compare.gate import Status, Verdict
from pytest_infperf.measure.results import ColdStart, Repeat
from pytest_infperf.measure.timing import Timing
from pytest_infperf.report import plots
from pytest_infperf.report import table as report


def test_recommendation_lines_render_each_pick():
    cells = [cell("torch", 1, 3.0, mib=10), cell("torch", 8, 1.0, mib=500)]
    (line,) = report.recommendation_lines(cells, memory_limit_mib=100)
    assert line.startswith("recommended for net (3x8x8): fastest per image: torch-cpu-fp32-b8 (1.000 ms/image")
    assert "lowest latency at batch 1: torch-cpu-fp32-b1 (3.000 ms per call)" in line
    assert "fastest within 100 MiB: torch-cpu-fp32-b1 (3.000 ms/image, 333.3 images/s, 10.0 MiB)" in line
    (none_fits,) = report.recommendation_lines(cells, memory_limit_mib=5)
    assert "fastest within 5 MiB: none (least memory: torch-cpu-fp32-b1 at 10.0 MiB)" in none_fits
    (no_b1,) = report.recommendation_lines([cells[1]])
    assert "lowest latency at batch 1: - (no batch-1 cell; add 1 to --infperf-batches)" in no_b1
    assert "within" not in no_b1


def test_table_has_seed002_columns_flops_and_dashes_for_what_a_cell_lacks():
    cells = [cell("torch", 16, 2.0, mib=418.8, flops_per_image=3.63e9), cell("onnxruntime", 16, 4.0)]
    headers, rows = report.table_rows(cells, {}, reference="onnxruntime-cpu-fp32-b16")
    assert headers[:13] == ["model", "backend", "device", "precision", "shape", "time/batch", "time/image",
                            "images/s", "memory", "speedup vs onnxruntime-cpu-fp32-b16", "FLOPs/image", "TFLOP/s",
                            "IQR"]
    torch_row, ort_row = (dict(zip(headers, row, strict=True)) for row in rows)
    assert torch_row["shape"] == "16x3x8x8" and torch_row["time/batch"] == "32.000 ms"
    assert torch_row["time/image"] == "2.000 ms" and torch_row["images/s"] == "500.0"
    assert torch_row["memory"] == "418.8 MiB" and torch_row["speedup vs onnxruntime-cpu-fp32-b16"] == "2.00x"
    assert torch_row["FLOPs/image"] == "3.63 GFLOP" and torch_row["TFLOP/s"] == "1.815"
    assert ort_row["memory"] == ort_row["FLOPs/image"] == ort_row["TFLOP/s"] == "-"
    assert "baseline" not in headers and "users" not in headers


def test_compare_columns_show_baseline_current_change_and_verdict():
    cells = [cell("torch", 1, 2.0), cell("torch", 8, 1.0)]
    verdicts = {cells[0].nodeid: Verdict("torch-cpu-fp32-b1", Status.REGRESSED, 2e-3, 1e-3, 1.0, limit=0.35)}
    headers, rows = report.table_rows(cells, verdicts)
    assert headers[11:15] == ["baseline", "current", "change", "verdict"]
    assert rows[0][11:15] == ["1.000 ms", "2.000 ms", "+100.0%", "regressed"]
    assert rows[1][11:15] == ["-", "-", "-", "-"]
    lines = report.results_table(cells, verdicts)
    assert len(lines) == 4 and "baseline" in lines[0] and set(lines[1]) <= {"-", " "}


def test_every_verdict_status_renders_in_the_table_markdown_and_plot(tmp_path):
    cells = [cell("torch", b, 1.0 + b) for b in range(1, len(Status) + 1)]
    verdicts = {c.nodeid: Verdict(c.case.id, status, 2e-3, 1e-3, 1.0, limit=0.35, detail=f"{status.value} detail")
                for c, status in zip(cells, Status, strict=True)}
    assert {row[14] for row in report.table_rows(cells, verdicts)[1]} == {s.value for s in Status}
    text = report.markdown(cells, verdicts, "machine")
    assert "- **unstable**: torch-cpu-fp32-b" in text
    assert text.index("regressed") < text.index("| unchanged") and text.index("| unstable") < text.index("| improved")
    written = plots.write_plots(cells, verdicts, tmp_path, "machine")
    assert any(p.name.endswith("vs-baseline.png") for p in written)


def test_a_broken_cell_is_an_error_not_a_dash():
    # a cell always has a summary; one without is a bug upstream, and a dash in the table would hide it (report._safe
    # once turned a KeyError into "-"): the renderer raises, so a test fails
    broken = cell("torch", 4, 1.0)
    object.__setattr__(broken, "summary", None)
    with pytest.raises(AttributeError):
        report.table_rows([broken], {})
    with pytest.raises(AttributeError):
        report.recommendation_lines([broken])


def test_concurrency_adds_a_users_column():
    headers, rows = report.table_rows([cell("torch", 1, 1.0), cell("torch", 1, 1.0, concurrency=4)], {})
    assert headers[5] == "users" and [r[5] for r in rows] == ["1", "4"]


def test_markdown_puts_cold_start_and_memory_regressions_first():
    cells = [cell("torch", 1, 1.0), cell("torch", 8, 1.0), cell("onnxruntime", 1, 1.0)]
    verdicts = {c.nodeid: Verdict(c.case.id, Status.UNCHANGED, 1e-3, 1e-3, 0.0) for c in cells}
    cold = {cells[2].nodeid: Verdict("onnxruntime-cpu-fp32-b1", Status.REGRESSED, 2.0, 0.5, 3.0, limit=1.0,
                                     detail="cold start (load + first call, export excluded)")}
    text = report.markdown(cells, verdicts, "machine-x", other_verdicts={"cold-start": cold, "memory": {}})
    lines = text.splitlines()
    assert lines[0] == "# Inference performance: machine-x"
    assert lines[2] == "3 unchanged, 1 cold-start regressed"
    assert lines[4].startswith("- **cold-start regressed**: onnxruntime-cpu-fp32-b1: regressed: median")
    rows = [line for line in lines if line.startswith("| net |")]
    assert rows[0].startswith("| net | onnxruntime |")


def test_time_breakdown_sums_every_repeat_and_names_the_rest_of_each_repeat():
    base = cell()
    timing = Timing((0.001,) * 5, 1, 0.002, 3, 0.5, True, 1.25)  # warm-up 0.5 s, timed blocks 1.25 s
    repeats = tuple(Repeat(timing=timing, cold=ColdStart(0.2, 0.002), index=i, confirm=i == 2, wall_s=2.5)
                    for i in range(3))
    line = report.time_breakdown([dataclasses.replace(base, repeats=repeats)])
    # per repeat: load + first call 0.202 s, warm-up 0.5 s, timed 1.25 s, the rest 2.5 - 1.952 = 0.548 s
    assert line == ("time: 1 cells, 2 repeats + 1 confirmation repeats; load and first call 0.6 s, warm-up 1.5 s, "
                    "timed blocks 3.8 s, the rest of each repeat 1.6 s")


def test_time_breakdown_splits_the_rest_by_the_repeats_laps():
    base = cell()
    timing = Timing((0.001,) * 5, 1, 0.002, 3, 0.5, True, 1.25)
    laps = (("inputs_s", 0.3), ("load_s", 0.2), ("measure_s", 1.8), ("release_s", 0.1), ("flops_s", 0.01))
    repeats = tuple(Repeat(timing=timing, cold=ColdStart(0.2, 0.002), index=i, wall_s=2.5, laps=laps) for i in range(2))
    line = report.time_breakdown([dataclasses.replace(base, repeats=repeats)])
    # the measuring laps (load, measure) are the figures before; the rest by size, the ones under 0.05 s left out
    assert line.endswith("the rest of each repeat 1.1 s (inputs 0.6, release 0.2)")


def test_recommendation_lines_name_the_named_dims():
    cells = [dims_cell(CALLABLE, {"seq": v}, "torch", 1, v / 100) for v in (128, 512)]
    lines = report.recommendation_lines(cells)
    assert [line.partition(":")[0] for line in lines] == ["recommended for net (seq=128)",
                                                          "recommended for net (seq=512)"]
    (shown,) = report.recommendation_lines([dims_cell(SPECS, {"seq": 128})])
    assert shown.startswith("recommended for net (128, seq=128): ")


def test_the_shape_column_shows_named_dims_it_does_not_show_and_flops_take_the_unit():
    cells = [dims_cell(CALLABLE, {"seq": 128}, batch=8), dims_cell(HIDDEN, {"boxes": 100}, batch=8),
             dims_cell(SPECS, {"seq": 512}, batch=8)]
    headers, rows = report.table_rows(cells, {})
    shapes = [dict(zip(headers, row, strict=True))["shape"] for row in rows]
    assert shapes == ["8 seq128", "8x3x8x8 boxes100", "8x512"]  # seq is the first input's own axis: shown once
    headers, _ = report.table_rows([dims_cell(SPECS, {"seq": 128}, flops_per_image=1e9)], {})
    assert "FLOPs/sequence" in headers and "time/sequence" in headers and "FLOPs/image" not in headers
    (line,) = report.recommendation_lines([dims_cell(SPECS, {"seq": 128})])
    assert "fastest per sequence: torch-cpu-fp32-b1-seq128 (1.000 ms/sequence" in line
