"""The results table, the markdown report, the recommendation lines, the PNG plots and the FLOP count."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from helpers import FAKE_ARGS, cell, run_fake

from pytest_infperf.artifacts.models import ModelSpec
from pytest_infperf.compare.gate import Status, Verdict
from pytest_infperf.report import plots

# Heavy C extensions are imported here, once: pytester's in-process runs drop modules first imported inside a run,
# and these cannot be imported a second time into one process.
try:
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.patches  # noqa: F401
    import matplotlib.ticker  # noqa: F401
except ImportError:
    matplotlib = None
try:
    import torch
    import torch.utils.flop_counter  # noqa: F401
except ImportError:
    torch = None

needs_matplotlib = pytest.mark.skipif(matplotlib is None, reason="matplotlib is not installed; pip install matplotlib")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed; pip install 'pytest-infperf[torch]'")


# ---------------------------------------------------------------------------------------------------- recommend


# ---------------------------------------------------------------------------------------------------- table


# ---------------------------------------------------------------------------------------------------- plugin runs

TWO_MODELS = '''
import os

import pytest


def net_a():
    return {"ms": 10.0}


def net_b():
    return {"ms": float(os.environ.get("NET_B_MS", "10"))}


@pytest.mark.infperf(model=net_a, input_shape=(3, 8, 8))
def test_a(infperf):
    infperf.benchmark()


@pytest.mark.infperf(model=net_b, input_shape=(3, 8, 8))
def test_b(infperf):
    infperf.benchmark()
'''


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_sensible_png(path: Path) -> None:
    assert path.is_file(), path
    width, height = png_size(path)
    assert 600 <= width <= 3000 and 300 <= height <= 3000, (path, width, height)
    assert 10_000 <= path.stat().st_size <= 2_000_000, (path, path.stat().st_size)


@needs_matplotlib
def test_report_and_plot_options_write_markdown_and_pngs(fake_suite):
    result = run_fake(fake_suite, "--infperf-report=out/report.md", "--infperf-plot=plots", "--infperf-batches=1,4,8")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*infperf results*",
        "*model*backend*device*precision*shape*time/batch*time/image*images/s*memory*FLOPs/image*TFLOP/s*",
        "recommended for net (3x8x8): fastest per image: fake-cpu-fp32-b*; lowest latency at batch 1: "
        "fake-cpu-fp32-b1 (* per call)",
        "*markdown report written to*report.md",
        "plot written to *net-time-per-image.png",
        "plot written to *net-memory.png",
    ])
    text = (fake_suite.path / "out" / "report.md").read_text()
    assert text.startswith("# Inference performance: ")
    assert "- recommended for net (3x8x8): fastest per image:" in text
    assert "| model | backend | device | precision | shape | time/batch |" in text
    assert "| net | fake | cpu | fp32 | 8x3x8x8 |" in text
    written = sorted(p.name for p in (fake_suite.path / "plots").iterdir())
    assert written == ["net-memory.png", "net-time-per-image.png"]  # no baseline: no comparison plot
    for name in written:
        assert_sensible_png(fake_suite.path / "plots" / name)


@needs_matplotlib
def test_compare_report_lists_regressions_first_and_plots_current_vs_baseline(pytester, monkeypatch):
    pytester.makeini("[pytest]\ninfperf_storage = baselines\n")
    pytester.makepyfile(test_perf=TWO_MODELS)
    for run in range(3):
        monkeypatch.setenv("INFPERF_FAKE_RUN", str(100 + run))
        assert run_fake(pytester, "--infperf-batches=8", "--benchmark-save=main").ret == 0
    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    monkeypatch.setenv("NET_B_MS", "20")  # net_b (the second test) twice as slow
    result = run_fake(pytester, "--infperf-batches=8", "--benchmark-compare", "--infperf-report=report.md",
                      "--infperf-plot=plots")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*time/batch*baseline*current*change*verdict*",
        "net_a*fake*cpu*fp32*8x3x8x8*unchanged*",
        "net_b*fake*cpu*fp32*8x3x8x8*+*regressed*",
        "plot written to *net_b-vs-baseline.png",
    ])
    lines = (pytester.path / "report.md").read_text().splitlines()
    assert lines[2] == "1 regressed, 1 unchanged"
    assert lines[4].startswith("- **regressed**: fake-cpu-fp32-b8: regressed: median")
    rows = [line for line in lines if line.startswith("| net_")]
    assert rows[0].startswith("| net_b |") and "| regressed |" in rows[0]
    assert rows[1].startswith("| net_a |") and "| unchanged |" in rows[1]
    for name in ("net_a-time-per-image.png", "net_a-memory.png", "net_a-vs-baseline.png",
                 "net_b-time-per-image.png", "net_b-memory.png", "net_b-vs-baseline.png"):
        assert_sensible_png(pytester.path / "plots" / name)


def test_plot_without_matplotlib_is_a_usage_error_naming_the_install(fake_suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_fake(fake_suite, "--infperf-plot=plots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--infperf-plot: writing plots needs matplotlib, which is not installed; "
                                 "pip install matplotlib*"])
    assert not (fake_suite.path / "plots").exists()


# A backend on the fake clock whose cost and memory per cell come from the model: {backend: {batch: (ms/image, MiB)}}
VARIED_PLUGIN = '''
import numpy as np
from infperf_fake import FakeBackend, FakeSession

NAMES = ["bigmem", "lean"]


class VariedBackend(FakeBackend):
    def __init__(self, name):
        self.name = name

    def load(self, case, source, inputs, cache_dir):
        ms, mib = source.factory()[self.name][case.batch]
        session = FakeSession(cost=ms / 1e3 * case.batch, jitter=0.01, rng=np.random.default_rng(case.batch))
        session.buffer = np.ones(int(mib * 2**20), dtype=np.uint8)  # touched: resident memory the sampler sees
        return session


def pytest_infperf_backend_names(config):
    return NAMES


def pytest_infperf_make_backend(config, name):
    return VariedBackend(name) if name in NAMES else None
'''

VARIED_TEST = '''
import pytest


def net():
    return {"bigmem": {1: (3.0, 0), 8: (1.0, 160)}, "lean": {1: (2.0, 0), 8: (1.5, 0)}}


@pytest.mark.infperf(model=net, input_shape=(3, 8, 8))
def test_net(infperf):
    infperf.benchmark()
'''


def test_recommendation_lines_name_the_right_cells_and_the_memory_limit_changes_the_choice(pytester):
    pytester.makepyfile(infperf_varied=VARIED_PLUGIN, test_perf=VARIED_TEST)
    pytester.syspathinsert()
    args = ("-p", "infperf_varied", "--infperf-backends=bigmem,lean", "--infperf-devices=cpu",
            "--infperf-batches=1,8", "-p", "no:cacheprovider", "-o", "infperf_check_outputs=off",
            "--infperf-report=report.md")
    plain = pytester.runpytest(*args)
    assert plain.ret == 0, plain.stdout.str()
    plain.stdout.fnmatch_lines([
        "recommended for net (3x8x8): fastest per image: bigmem-cpu-fp32-b8 (*/image, * images/s); "
        "lowest latency at batch 1: lean-cpu-fp32-b1 (*.* ms per call)",
    ])
    assert "within" not in plain.stdout.str()
    limited = pytester.runpytest(*args, "--infperf-memory-limit=80")
    assert limited.ret == 0, limited.stdout.str()
    limited.stdout.fnmatch_lines([
        "recommended for net (3x8x8): fastest per image: bigmem-cpu-fp32-b8 (*); lowest latency at batch 1: "
        "lean-cpu-fp32-b1 (*); fastest within 80 MiB: lean-cpu-fp32-b8 (1.* ms/image, *)",
    ])
    assert "fastest within 80 MiB: lean-cpu-fp32-b8" in (pytester.path / "report.md").read_text()


def test_memory_limit_must_be_a_positive_number(fake_suite):
    result = fake_suite.runpytest(*FAKE_ARGS, "--infperf-memory-limit=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--infperf-memory-limit: 'lots' is not a number*"])


# ---------------------------------------------------------------------------------------------------- plots


@needs_matplotlib
def test_plots_are_written_per_model_with_sanitised_names(tmp_path):
    cells = [cell("torch", b, 1.0 + 1 / b, model="my/model v2", mib=10.0 * b) for b in (1, 2, 4)]
    cells += [cell("onnxruntime", b, 50.0, model="my/model v2", device="cuda", precision="fp16") for b in (1, 4)]
    cells += [cell("torch", 1, 1.0, model="my:model v2")]  # sanitises to the same name
    verdicts = {cells[0].nodeid: Verdict("torch-cpu-fp32-b1", Status.IMPROVED, 1e-3, 2e-3, -0.5, limit=0.35)}
    written = plots.write_plots(cells, verdicts, tmp_path / "deep" / "plots", "machine-x")
    assert [p.name for p in written] == [
        "my_model_v2-time-per-image.png", "my_model_v2-memory.png", "my_model_v2-vs-baseline.png",
        "my_model_v2-2-time-per-image.png",
    ]
    for path in written:
        assert_sensible_png(path)


# ---------------------------------------------------------------------------------------------------- FLOPs

ONE_CONV = '''
import pytest
import torch


def one_conv():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())


@pytest.mark.infperf(model=one_conv, input_shape=(3, 16, 16))
def test_conv(infperf):
    infperf.benchmark()
'''
CONV_FLOPS = 2 * 3 * 8 * 3 * 3 * 14 * 14  # 2 x Cin x Cout x k x k x Hout x Wout: a multiply-add counts 2


def _source(factory: object):
    return ModelSpec.from_marker(factory).resolve(Path("."), 0)


@needs_torch
def test_real_torch_cell_reports_flops_and_tflops(pytester):
    pytester.makepyfile(test_conv=ONE_CONV)
    result = pytester.runpytest("--infperf-backends=torch", "--infperf-devices=cpu", "--infperf-batches=4",
                                "--benchmark-max-time=0.05", "--benchmark-json=out.json", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*FLOPs/image*TFLOP/s*", "*torch*cpu*fp32*4x3x16x16*84.67 kFLOP*"])
    import json

    extra = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["infperf"]
    assert extra["flops_per_image"] == CONV_FLOPS
    assert extra["tflops_per_s"] == pytest.approx(CONV_FLOPS * extra["images_per_s"] / 1e12)
