"""Selection options, ini keys, parametrization ids and the usage errors of bad input."""

from __future__ import annotations

import pytest
from helpers import FAKE_ARGS, FAKE_TEST, run_fake


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::test_net[" in line]


def test_ids_cover_the_selected_matrix(fake_suite):
    result = run_fake(fake_suite, "--collect-only", "-q", "--infperf-precisions=fp32,fp16", "--infperf-batches=1,8")
    assert result.ret == 0
    assert collected_ids(result) == ["fake-cpu-fp32-b1", "fake-cpu-fp32-b8", "fake-cpu-fp16-b1", "fake-cpu-fp16-b8"]


def test_dash_k_selects_one_cell(fake_suite):
    result = run_fake(fake_suite, "-k", "fake-cpu-fp32-b8", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_net?fake-cpu-fp32-b8? PASSED*"])


def test_ini_selects_and_command_line_wins(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ninfperf_backends = fake\ninfperf_devices = cpu\ninfperf_batches = 2, 4\n"
                     "infperf_precisions = bf16\n")
    pytester.makepyfile(test_perf=FAKE_TEST)
    ini_only = pytester.runpytest("-p", "infperf_fake", "--collect-only", "-q")
    assert collected_ids(ini_only) == ["fake-cpu-bf16-b2", "fake-cpu-bf16-b4"]
    overridden = pytester.runpytest("-p", "infperf_fake", "--collect-only", "-q", "--infperf-batches=16")
    assert collected_ids(overridden) == ["fake-cpu-bf16-b16"]


def test_auto_device_is_cpu_without_gpu(fake_suite, monkeypatch):
    from pytest_infperf import gpu

    monkeypatch.setattr(gpu, "gpu_present", lambda: False)
    result = fake_suite.runpytest("-p", "infperf_fake", "--infperf-backends=fake", "--infperf-devices=auto",
                                  "--infperf-batches=1", "--collect-only", "-q")
    assert collected_ids(result) == ["fake-cpu-fp32-b1"]


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--infperf-backends=tensorflow",
         "*--infperf-backends: unknown 'tensorflow'; choose from torch, torch-cudagraph, torch-compile, "
         "torch-compile-cudagraphs, onnxruntime, onnxruntime-host, onnxruntime-cudagraph, *fake*"),
        ("--infperf-devices=tpu", "*--infperf-devices: unknown 'tpu'; choose from cpu, cuda, auto*"),
        ("--infperf-precisions=fp8", "*--infperf-precisions: unknown 'fp8'; choose from fp32, fp16, bf16, int8*"),
        ("--infperf-batches=0", "*--infperf-batches: batch 0 is not positive*"),
        ("--infperf-batches=-4", "*--infperf-batches: batch -4 is not positive*"),
        ("--infperf-batches=8.5", "*--infperf-batches: '8.5' is not an integer*"),
        ("--infperf-batches=eight", "*--infperf-batches: 'eight' is not an integer*"),
        ("--infperf-batches=", "*--infperf-batches: empty list*"),
        ("--infperf-gate=maybe", "*--infperf-gate: unknown 'maybe'; choose from fail, warn, off*"),
        ("--infperf-threshold=ten", "*--infperf-threshold: 'ten' is not a number*"),
        ("--infperf-threads=-1", "*--infperf-threads: -1 is out of range; give a value from 0 to 1024*"),
        ("--infperf-threads=two", "*--infperf-threads: 'two' is not an integer*"),
        ("--infperf-threshold=-5", "*--infperf-threshold: -5 is out of range*"),
        ("--infperf-history=0", "*--infperf-history: 0 is out of range*"),
    ],
)
def test_bad_options_are_usage_errors(fake_suite, arg, message):
    result = fake_suite.runpytest("-p", "infperf_fake", arg)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_value_names_the_ini_key(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ninfperf_batches = 1, zero\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini infperf_batches: 'zero' is not an integer*"])


MARKER_CASES = [
    ("def test_x(infperf):\n    infperf.benchmark()\n", "*has no @pytest.mark.infperf(model=..., input_shape=...)*"),
    ("@pytest.mark.infperf(model=net)\ndef test_x(infperf):\n    pass\n", "*needs model=... and input_shape=*"),
    ("@pytest.mark.infperf(model=net, input_shape=(3, 0, 8))\ndef test_x(infperf):\n    pass\n",
     "*input_shape=(3, 0, 8) must be one sample's shape as positive integers*"),
    ("@pytest.mark.infperf(model=net, input_shape=(3, 8, 8), batch=4)\ndef test_x(infperf):\n    pass\n",
     "*unknown argument(s) batch*"),
    ("@pytest.mark.infperf(model='no_such_pkg.nets:make', input_shape=(3,))\ndef test_x(infperf):\n    pass\n",
     "*cannot import module 'no_such_pkg.nets'*"),
    ("@pytest.mark.infperf(model='json:no_such_factory', input_shape=(3,))\ndef test_x(infperf):\n    pass\n",
     "*module 'json' has no attribute 'no_such_factory'*"),
    ("@pytest.mark.infperf(model='models/missing.onnx', input_shape=(3,))\ndef test_x(infperf):\n    pass\n",
     "*model file 'models/missing.onnx' does not exist*"),
    ("@pytest.mark.infperf(model='resnet', input_shape=(3,))\ndef test_x(infperf):\n    pass\n",
     "*neither 'module:attr' nor a path ending in .onnx*"),
    ("@pytest.mark.infperf(model=42, input_shape=(3,))\ndef test_x(infperf):\n    pass\n", "*(int) is not usable*"),
]


@pytest.mark.parametrize(("body", "message"), MARKER_CASES)
def test_bad_markers_are_collection_errors_without_traceback(pytester: pytest.Pytester, body, message):
    pytester.makepyfile(test_perf="import pytest\n\ndef net():\n    return {}\n\n" + body)
    result = pytester.runpytest(*FAKE_ARGS)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's exit code for collection errors
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_benchmark_disable_runs_each_cell_once_without_measuring(fake_suite):
    result = run_fake(fake_suite, "--benchmark-disable")
    result.assert_outcomes(passed=2)
    assert "infperf results" not in result.stdout.str()


def test_unsupported_cell_is_skipped_with_reason(fake_suite):
    result = run_fake(fake_suite, "--infperf-precisions=int8", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*fake-cpu-int8-b1: the fake backend has no int8 path*"])


def test_preset_fills_axes_not_given_on_the_command_line(fake_suite):
    from pytest_infperf import presets

    result = fake_suite.runpytest("-p", "infperf_fake", "--infperf-preset=cpu", "--infperf-backends=fake",
                                  "--collect-only", "-q")
    batches = presets.PRESETS["cpu"]["batches"].split(",")
    assert collected_ids(result) == [f"fake-cpu-fp32-b{b}" for b in batches]


def test_auto_preset_without_gpu_is_the_cpu_preset(fake_suite, monkeypatch):
    from pytest_infperf import gpu

    monkeypatch.setattr(gpu, "gpu_present", lambda: False)
    result = fake_suite.runpytest("-p", "infperf_fake", "--infperf-preset=auto", "--infperf-backends=fake",
                                  "--collect-only", "-q")
    assert collected_ids(result) == ["fake-cpu-fp32-b1", "fake-cpu-fp32-b4", "fake-cpu-fp32-b8"]


PLAIN_TEST = """
@pytest.mark.infperf(model=net, input_shape=(3, 8, 8))
def test_plain(infperf):
    infperf.benchmark()
"""


def _own_batches(batches: str) -> str:
    """test_net with the marker's batches=, beside test_plain without them."""
    return FAKE_TEST.replace("input_shape=(3, 8, 8)", f"input_shape=(3, 8, 8), batches={batches}") + PLAIN_TEST


@pytest.mark.parametrize("axis", ["--infperf-preset=cpu", "-oinfperf_batches=1,4,8"])  # the preset's or ini's
def test_the_markers_batches_replace_the_selected_batches(fake_suite, axis):
    fake_suite.makepyfile(test_perf=_own_batches("(32, 2)"))
    result = fake_suite.runpytest("-p", "infperf_fake", axis, "--infperf-backends=fake", "--infperf-devices=cpu",
                                  "--collect-only", "-q")
    assert collected_ids(result) == ["fake-cpu-fp32-b32", "fake-cpu-fp32-b2"]
    plain = [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::test_plain[" in line]
    assert plain == ["fake-cpu-fp32-b1", "fake-cpu-fp32-b4", "fake-cpu-fp32-b8"]


def test_infperf_batches_on_the_command_line_wins_over_the_markers_batches(fake_suite):
    fake_suite.makepyfile(test_perf=_own_batches("[32]"))
    result = fake_suite.runpytest("-p", "infperf_fake", "--infperf-preset=cpu", "--infperf-backends=fake",
                                  "--infperf-batches=4", "--collect-only", "-q")
    assert collected_ids(result) == ["fake-cpu-fp32-b4"]


@pytest.mark.parametrize("batches", ["32", "'32'", "()", "(0, 8)", "[-1]", "(1.5,)", "(True,)"])
def test_bad_marker_batches_are_collection_errors(fake_suite, batches):
    fake_suite.makepyfile(test_perf=_own_batches(batches))
    result = run_fake(fake_suite)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's exit code for collection errors
    out = result.stdout.str()  # a substring: fnmatch would read the brackets as a character class
    assert (f"test_perf.py::test_net: @pytest.mark.infperf(batches={batches}) must be one or more positive "
            "integers, e.g. batches=(32,) or batches=[1, 32]") in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--infperf-preset=huge", "*--infperf-preset: unknown 'huge'; choose from cpu, gpu, seed002, bert-gpu, auto*"),
        ("-o infperf_channels_last=maybe", "*ini infperf_channels_last: unknown 'maybe'; choose from auto, on, off*"),
        ("-o infperf_tf32=yes", "*ini infperf_tf32: unknown 'yes'; choose from default, on, off*"),
        ("-o infperf_ort_cuda_options=prefer_nhwc", "*ini infperf_ort_cuda_options: 'prefer_nhwc' is not key=value*"),
        ("-o infperf_check_outputs=sometimes", "*ini infperf_check_outputs: unknown 'sometimes'; choose from on, off*"),
    ],
)
def test_bad_backend_options_are_usage_errors(fake_suite, arg, message):
    result = fake_suite.runpytest("-p", "infperf_fake", *arg.split(" "))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
