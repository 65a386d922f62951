"""GPU tests: run on the GPU machine (`python3 -m pytest tests -m gpu`); skipped with a reason elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TWO_INPUTS

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"),
]


def resnet_cell(backend: str, precision: str, batch: int, max_time: float = 1.0):
    """Measure one ResNet-18 cell through the plugin's own runner (no pytest session), as the suite does."""
    from pytest_infperf.artifacts.models import ModelSpec
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.measure.runner import run_cell
    from pytest_infperf.measure.timing import TimingPolicy
    from pytest_infperf.settings import BackendOptions

    case = Case(backend, "cuda", precision, batch, (3, 224, 224))
    source = ModelSpec.from_marker("pytest_infperf.artifacts.models:resnet18", "resnet18").resolve(Path("."), 0)
    impl = make_backend(backend, BackendOptions())
    reason = impl.unavailable_reason(case, source)
    if reason:
        pytest.skip(reason)
    impl.prepare(source)
    import tempfile

    return run_cell(f"gpu::{case.id}", case, impl, source, TimingPolicy(min_rounds=10, max_time=max_time),
                    Path(tempfile.gettempdir()) / "infperf-onnx", 0, reference=source.reference_output)


@pytest.mark.parametrize(("backend", "batch"), [("torch", 128), ("torch-cudagraph", 64)])
def test_median_agrees_with_torch_utils_benchmark_timer(backend, batch):
    """Independent check: the same callable timed by torch.utils.benchmark.Timer.blocked_autorange()."""
    import torch.utils.benchmark as tb

    from pytest_infperf.artifacts.models import ModelSpec
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.measure.runner import random_inputs
    from pytest_infperf.measure.stats import summarize
    from pytest_infperf.measure.timing import TimingPolicy, measure
    from pytest_infperf.settings import BackendOptions

    case = Case(backend, "cuda", "fp16", batch, (3, 224, 224))
    source = ModelSpec.from_marker("pytest_infperf.artifacts.models:resnet18", "resnet18").resolve(Path("."), 0)
    impl = make_backend(backend, BackendOptions())
    with impl.load(case, source, random_inputs(case, 0), None) as session:  # type: ignore[arg-type]
        ours = []
        theirs = []
        for _ in range(3):  # interleaved, so that clock drift hits both alike
            ours.append(summarize(measure(session.run, session.block_timer(), TimingPolicy(max_time=1.0)).samples)
                        .median)
            timer = tb.Timer(stmt="run()", globals={"run": session.run})
            theirs.append(timer.blocked_autorange(min_run_time=1.0).median)
    ours_m, theirs_m = sorted(ours)[1], sorted(theirs)[1]
    print(f"{case.id}: plugin {ours_m * 1e3:.4f} ms, torch Timer {theirs_m * 1e3:.4f} ms, "
          f"ratio {ours_m / theirs_m:.4f}")
    assert ours_m == pytest.approx(theirs_m, rel=0.02)


def test_cuda_cell_records_events_timing_nvml_state_and_a_correct_output():
    result = resnet_cell("torch", "fp16", 64)
    assert result.check is not None and result.check.ok, result.check
    assert result.diagnosis is not None  # CUDA events with host enqueue time beside them
    before, after = dict(result.device_before), dict(result.device_after)
    assert before.get("sm_clock_mhz", 0) > 0 and "clock_event_reasons" in after
    assert dict(result.details)["channels_last"] is True
    # first call (cudnn autotune, lazy init) is cold start and never a sample
    assert result.cold.first_call_s > result.summary.median
    # the host launch probe beside the repeat: microseconds per tiny launch (7-10 us on the lent H200)
    probe = result.repeats[0].host_probe_s
    assert probe is not None and 1e-7 < probe < 1e-4, probe
    from pytest_infperf.compare.schema import repeat_to_json

    assert repeat_to_json(result.repeats[0])["host_probe_s"] == probe


def test_launch_bound_eager_batch1_is_diagnosed_and_cuda_graph_is_not():
    eager = resnet_cell("torch", "fp16", 1)
    graph = resnet_cell("torch-cudagraph", "fp16", 1)
    print(f"eager b1 {eager.summary.median * 1e6:.1f} us (host enqueue {eager.diagnosis.host_enqueue_s * 1e6:.1f} us),"
          f" cuda graph b1 {graph.summary.median * 1e6:.1f} us")
    assert eager.diagnosis.launch_bound
    assert not graph.diagnosis.launch_bound
    assert graph.summary.median < eager.summary.median


def test_torch_compile_keeps_compile_time_out_of_steady_state():
    result = resnet_cell("torch-compile", "fp16", 16)
    assert result.check.ok
    assert result.cold.first_call_s > 20 * result.summary.median  # compilation happened in the first call


def test_onnxruntime_cuda_io_binding_beats_host_copies():
    bound = resnet_cell("onnxruntime", "fp16", 64)
    host = resnet_cell("onnxruntime-host", "fp16", 64)
    assert dict(bound.details)["io"] == "device" and dict(host.details)["io"] == "host"
    assert bound.check.ok and host.check.ok
    assert bound.summary.median < host.summary.median
    print(f"ORT CUDA fp16 b64: IO binding {bound.summary.median * 1e3:.3f} ms, host feeds "
          f"{host.summary.median * 1e3:.3f} ms")


def test_suite_on_gpu_writes_json_with_device_fields(pytester: pytest.Pytester):
    pytester.makepyfile(test_r='''
import pytest

@pytest.mark.infperf(model="pytest_infperf.artifacts.models:resnet18", input_shape=(3, 224, 224))
def test_r(infperf):
    infperf.benchmark()
''')
    result = pytester.runpytest("--infperf-backends=torch", "--infperf-devices=cuda", "--infperf-precisions=fp16",
                                "--infperf-batches=8", "--benchmark-json=out.json", "--benchmark-max-time=0.2")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "out.json").read_text())
    fields = data["machine_info"]["infperf"]["fields"]
    assert fields["gpu"] and fields["driver"] and fields["cuda_driver"]
    extra = data["benchmarks"][0]["extra_info"]["infperf"]
    assert extra["device_state"]["start"]["sm_clock_mhz"] > 0


@pytest.mark.parametrize(("backend", "precision"), [("torch-cudagraph", "fp16"), ("onnxruntime", "fp16"),
                                                    ("torch", "fp32")])
def test_served_backends_on_cuda_return_the_models_output_for_every_formed_batch(backend, precision, tmp_path):
    """What Triton's Python backend calls on the GPU: the formed batch padded into CUDA-graph buckets (1, 3, 8, 13 of
    max 16) or bound to ONNX Runtime's CUDA provider, against the fp32 eager output."""
    import numpy as np

    from pytest_infperf.artifacts.models import resnet18
    from pytest_infperf.serving import served

    if backend == "onnxruntime":
        ort = pytest.importorskip("onnxruntime")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            pytest.skip("onnxruntime without the CUDA provider (carry onnxruntime-gpu)")
    torch.manual_seed(0)
    net = resnet18().eval()
    with torch.inference_mode():
        fp32 = [net(torch.from_numpy(x)).numpy() for x in
                (np.random.default_rng(n).standard_normal((n, 3, 64, 64), dtype=np.float32) for n in (1, 3, 8, 13))]
    serve = served.Serve(device="cuda", precision=precision, input_shape=(3, 64, 64), max_batch=16, workdir=tmp_path)
    infer = served.BACKENDS[backend]().load(net, serve)
    for n, want in zip((1, 3, 8, 13), fp32, strict=True):
        out = infer(np.random.default_rng(n).standard_normal((n, 3, 64, 64), dtype=np.float32))
        assert out.shape == want.shape
        error = float(np.abs(out - want).max() / np.abs(want).max())
        assert error < (0.05 if precision == "fp16" else 0.01), (backend, n, error)


def test_several_integer_and_float_inputs_run_on_every_cuda_backend(pytester: pytest.Pytester):
    """Two int64 inputs by name and a float one, a dict-of-tuple output, a sequence axis: torch eager, one CUDA graph
    replay (every input a static device tensor), torch.compile and onnxruntime's CUDA EP with every input and output
    bound on the device, in fp32 and fp16; each output checked against the fp32 reference."""
    pytest.importorskip("onnxruntime")
    pytester.makepyfile(test_two=TWO_INPUTS)
    backends = "torch,torch-cudagraph,torch-compile,onnxruntime"
    result = pytester.runpytest(f"--infperf-backends={backends}", "--infperf-devices=cuda",
                                "--infperf-precisions=fp32,fp16", "--infperf-batches=4", "--infperf-repeats=1",
                                "--benchmark-json=out.json", "--benchmark-max-time=0.05", "-p", "no:randomly")
    data = json.loads((pytester.path / "out.json").read_text())
    cells = {b["params"]["infperf_case"]: b["extra_info"]["infperf"] for b in data["benchmarks"]}
    ran = sorted(cells)
    print("cells:", ran)
    result.assert_outcomes(passed=16)
    for cell, info in cells.items():
        assert info["output_check"]["ok"], (cell, info["output_check"])
        assert info["dims"]["seq"] in (4, 8) and info["tokens_per_s"] > 0
    assert cells["torch-cudagraph-cuda-fp16-b4-seq8"]["details"]["cuda_graph"] is True
    assert cells["onnxruntime-cuda-fp16-b4-seq8"]["details"]["io"] == "device"
