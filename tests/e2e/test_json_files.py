"""What the plugin writes as JSON: strict JSON only (no NaN/Infinity), never a wrong result as a measurement or a
baseline, and pytest-benchmark's own fields (params, options, quartiles) saying what was measured and how."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import load_json, run_fake, saved_files
from infperf_fake import FakeBackend

from pytest_infperf.artifacts.models import ModelSource
from pytest_infperf.matrix import Case
from pytest_infperf.measure import runner
from pytest_infperf.measure.timing import TimingPolicy

CHECK = ("-o", "infperf_check_outputs=on")


def wrong_output(monkeypatch: pytest.MonkeyPatch, kind: str = "nan", batch: int = 8) -> None:
    monkeypatch.setenv("INFPERF_FAKE_OUTPUT", kind)
    monkeypatch.setenv("INFPERF_FAKE_OUTPUT_BATCH", str(batch))


# ------------------------------------------------------------------------------------------------ strict JSON


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_the_tests_read_our_files_strictly(tmp_path, constant):
    path = tmp_path / "out.json"
    path.write_text(f'{{"benchmarks": [{{"stats": {{"data": [{constant}]}}}}]}}')
    with pytest.raises(ValueError, match=f"not strict JSON: {constant}"):
        load_json(path)


def test_nan_output_fails_its_cell_and_every_json_file_written_is_strict(fake_suite, monkeypatch):
    wrong_output(monkeypatch, "nan")
    result = run_fake(fake_suite, *CHECK, "--benchmark-save=main", "--benchmark-json=out.json")
    result.assert_outcomes(passed=1, failed=1)
    files = [fake_suite.path / "out.json", *saved_files(fake_suite.path)]
    assert len(files) == 2
    for path in files:
        data = load_json(path)  # strict: NaN/Infinity raise
        assert [b["param"] for b in data["benchmarks"]] == ["fake-cpu-fp32-b1"]
    result.stdout.fnmatch_lines(["*fake-cpu-fp32-b8: output contains NaN*"])
    assert "max relative error" not in result.stdout.str()


def test_inf_output_is_named_in_the_message(fake_suite, monkeypatch):
    wrong_output(monkeypatch, "inf", batch=1)
    result = run_fake(fake_suite, *CHECK, "--benchmark-json=out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*fake-cpu-fp32-b1: output contains inf*"])
    assert [b["param"] for b in load_json(fake_suite.path / "out.json")["benchmarks"]] == ["fake-cpu-fp32-b8"]


# ------------------------------------------------------------------------------------- wrong output, baselines


def test_a_wrong_output_cell_is_never_saved_nor_compared_against(fake_suite, monkeypatch):
    wrong_output(monkeypatch, "nan")
    saved = run_fake(fake_suite, *CHECK, "--benchmark-save=main")
    assert saved.ret == pytest.ExitCode.TESTS_FAILED
    (path,) = saved_files(fake_suite.path)
    assert {b["param"] for b in load_json(path)["benchmarks"]} == {"fake-cpu-fp32-b1"}
    monkeypatch.delenv("INFPERF_FAKE_OUTPUT")  # the model is fixed
    result = run_fake(fake_suite, *CHECK, "--benchmark-compare", "--benchmark-json=out.json")
    assert result.ret == 0, result.stdout.str()
    verdicts = {b["param"]: b["extra_info"]["infperf_verdict"]["status"]
                for b in load_json(fake_suite.path / "out.json")["benchmarks"]}
    assert verdicts["fake-cpu-fp32-b8"] == "no baseline"
    assert verdicts["fake-cpu-fp32-b1"] != "no baseline"


def test_an_onnx_model_is_checked_against_the_onnxruntime_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("INFPERF_FAKE_OUTPUT", "wrong")
    source = ModelSource(name="net", factory=None, onnx_file=tmp_path / "net.onnx", seed=0)
    case = Case("fake", "cpu", "fp32", 2, (3, 8, 8))
    policy = TimingPolicy(warmup_min_time=0.0, min_rounds=3, max_time=0.0)
    result = runner.run_cell("t.py::t", case, FakeBackend(), source, policy, tmp_path, 0,
                             reference=lambda inputs: np.ones((len(inputs), 4)), memory=False)
    assert result.check is not None and not result.check.ok
    assert result.check.reference == "onnxruntime fp32"


# ------------------------------------------------------------------- pytest-benchmark's params, options, stats


def test_options_say_which_timer_and_warm_up_measured_the_cell(fake_suite):
    assert run_fake(fake_suite, "--benchmark-json=out.json").ret == 0
    for bench in load_json(fake_suite.path / "out.json")["benchmarks"]:
        options, extra = bench["options"], bench["extra_info"]["infperf"]
        assert options["timer"] == "infperf_fake.FakeClock"  # the fake backend's clock, not pytest-benchmark's
        assert options["warmup"] is True
        assert options["warmup_calls"] == extra["warmup"]["calls"] >= 3


def test_summary_quartiles_are_pytest_benchmarks(fake_suite):
    assert run_fake(fake_suite, "--benchmark-json=out.json").ret == 0
    for bench in load_json(fake_suite.path / "out.json")["benchmarks"]:
        summary, block = bench["extra_info"]["infperf"]["summary"], bench["extra_info"]["infperf"]["block_size"]
        assert summary["q1"] * block == pytest.approx(bench["stats"]["q1"], rel=1e-9)
        assert summary["q3"] * block == pytest.approx(bench["stats"]["q3"], rel=1e-9)
        assert summary["median"] * block == pytest.approx(bench["stats"]["median"], rel=1e-9)


def test_params_are_plain_axes_that_pytest_benchmark_compare_can_group_by(fake_suite, monkeypatch):
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    (path,) = saved_files(fake_suite.path)
    bench = {b["param"]: b for b in load_json(path)["benchmarks"]}["fake-cpu-fp32-b8"]
    assert bench["params"] == {"infperf_case": "fake-cpu-fp32-b8", "model": "net", "backend": "fake", "device": "cpu",
                               "precision": "fp32", "batch": 8, "shape": "3x8x8", "concurrency": 1}
    for group_by in ("param:backend", "param:infperf_case", "param:shape"):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_benchmark", "--storage", f"file://{path.parent.parent}", "compare",
             f"--group-by={group_by}"],
            capture_output=True, text=True, cwd=fake_suite.path, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "UNSERIALIZABLE" not in proc.stdout
    assert "backend=fake" in subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "--storage", f"file://{path.parent.parent}", "compare",
         "--group-by=param:backend"], capture_output=True, text=True, cwd=fake_suite.path, timeout=120,
    ).stdout
