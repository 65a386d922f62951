"""int8 that runs here: ONNX Runtime's static quantization to a Q/DQ model, run by the onnxruntime backend on CPU (in
CI) and on the CUDA EP (GPU test, on the device). The same Q/DQ model is what the TensorRT backends build from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")
import numpy as np  # noqa: E402
import onnx  # noqa: E402  # imported before pytester's in-process runs, which cannot re-import C extensions
from helpers import TINY_TEST as TINY  # noqa: E402  # the same small CNN as the real-backend tests
from onnx import numpy_helper  # noqa: E402

from pytest_infperf.artifacts import quantize  # noqa: E402
from pytest_infperf.artifacts.models import ModelSpec  # noqa: E402
from pytest_infperf.measure.runner import TOLERANCES, check_output  # noqa: E402

ARGS = ("--infperf-backends=onnxruntime", "--infperf-devices=cpu", "--infperf-precisions=fp32,int8",
        "--infperf-batches=1,4", "--benchmark-max-time=0.05", "--benchmark-min-rounds=3")


def cells(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    return {b["extra_info"]["infperf"]["cell"]: b["extra_info"]["infperf"] for b in data["benchmarks"]}


def qdq_files(root: Path) -> list[Path]:
    return sorted((root / ".pytest_cache" / "d" / "infperf-onnx").glob("*-int8-qdq.onnx"))


def test_int8_cell_runs_on_cpu_from_one_cached_qdq_model_with_a_passing_output_check(pytester: pytest.Pytester):
    pytester.makepyfile(test_tiny=TINY)
    result = pytester.runpytest(*ARGS, "--benchmark-json=out.json")
    result.assert_outcomes(passed=4)
    found = cells(pytester.path / "out.json")
    for batch in (1, 4):
        int8 = found[f"onnxruntime-cpu-int8-b{batch}"]
        assert int8["precision"] == "int8" and int8["input_shape"] == [batch, 3, 32, 32]
        check = int8["output_check"]
        assert check["ok"] and check["tolerance"] == TOLERANCES["int8"] == 0.1
        assert check["max_rel_error"] < 0.02  # measured 0.005 for this model: well inside the bound
        assert int8["details"]["int8"].startswith("Q/DQ model")
        assert found[f"onnxruntime-cpu-fp32-b{batch}"]["output_check"]["max_rel_error"] < 1e-4
    assert "quantize_s" in found["onnxruntime-cpu-int8-b1"]["cold_start"]  # quantized once, as cold start
    assert "quantize_s" not in found["onnxruntime-cpu-int8-b4"]["cold_start"]  # ... and reused for batch 4
    assert len(qdq_files(pytester.path)) == 1
    again = pytester.runpytest(*ARGS, "--benchmark-json=again.json")
    again.assert_outcomes(passed=4)
    assert "quantize_s" not in cells(pytester.path / "again.json")["onnxruntime-cpu-int8-b1"]["cold_start"]


def test_a_broken_quantized_model_fails_the_output_check(pytester: pytest.Pytester):
    pytester.makepyfile(test_tiny=TINY)
    pytester.runpytest(*ARGS).assert_outcomes(passed=4)
    (path,) = qdq_files(pytester.path)
    model = onnx.load(str(path))
    scales = {init.name: init for init in model.graph.initializer}
    weights = {n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in scales}
    gemm_inputs = {name for node in model.graph.node if node.op_type == "Gemm" for name in node.input}
    (head_dq,) = [node for node in model.graph.node if node.op_type == "DequantizeLinear"
                  and node.output[0] in gemm_inputs and node.input[0] in weights]
    # the head weight's dequantization scale doubled (its own copy: Q and DQ share one): a quantizer bug's wrong scale
    wrong = numpy_helper.to_array(scales[head_dq.input[1]]) * 2
    model.graph.initializer.append(numpy_helper.from_array(wrong, "wrong_scale"))
    head_dq.input[1] = "wrong_scale"
    onnx.save(model, str(path))
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*onnxruntime-cpu-int8-b1: output differs from the torch fp32 reference: max relative error * > 0.1 for int8*",
    ])


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)).mean((2, 3)))


def tiny() -> Tiny:
    return Tiny()


@pytest.fixture
def source():
    return ModelSpec.from_marker(tiny, "tiny").resolve(Path("."), 0)


def test_qdq_model_is_the_kind_tensorrt_builds_int8_from(source, tmp_path):
    path, phases = source.int8_onnx_path((3, 16, 16), tmp_path)
    assert {"export_s", "quantize_s"} <= set(phases)
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    zero_points = [init[n.input[2]] for n in qdq]
    assert all(z.dtype == np.int8 and not z.any() for z in zero_points)  # int8, symmetric: zero points 0
    weight_q = [n for n in qdq if n.op_type == "QuantizeLinear" and n.input[0] in init]  # fp32 weight -> Q -> DQ
    assert len(weight_q) == 2  # the conv's and the head's weights: TensorRT's layout, no int8 constants
    for node in weight_q:
        weight, scale = init[node.input[0]], init[node.input[1]]
        assert scale.shape == (weight.shape[0],)  # per output channel (axis 0), Conv and Gemm alike
        steps = np.abs(weight / scale.reshape(-1, *[1] * (weight.ndim - 1))).max()
        assert 63 <= steps <= 64.5  # 7-bit weights (reduce_range), not 127
    assert not [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT32]  # fp32 biases
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")  # dynamic batch kept
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 16, 16), dtype=np.float32)
        check = check_output(session.run(None, {"input": x})[0], source.reference_output(x), "int8", "torch fp32")
        assert check.ok, check
    assert quantize.has_qdq(path) and not quantize.has_qdq(source.onnx_path((3, 16, 16), "fp32", tmp_path)[0])
    again, phases = source.int8_onnx_path((3, 16, 16), tmp_path)
    assert again == path and not phases  # cached


def test_qdq_cache_key_holds_the_fp32_model_calibration_and_onnxruntime_version(source, tmp_path, monkeypatch):
    fp32, _ = source.onnx_path((3, 16, 16), "fp32", tmp_path)
    base = quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration())
    variants = [
        quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration(seed=1)),
        quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration(batches=4)),
        quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration(method="Entropy")),
        quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration(reduce_range=False)),
        quantize.qdq_path(fp32, (3, 17, 16), tmp_path, quantize.Calibration()),
    ]
    other = tmp_path / "other-fp32.onnx"
    other.write_bytes(fp32.read_bytes() + b"\0")
    variants.append(quantize.qdq_path(other, (3, 16, 16), tmp_path, quantize.Calibration()))
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.1")
    variants.append(quantize.qdq_path(fp32, (3, 16, 16), tmp_path, quantize.Calibration()))
    assert len({base, *variants}) == 1 + len(variants)


def test_int8_on_a_given_onnx_file_is_quantized_from_it(source, tmp_path):
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.settings import BackendOptions

    fp32, _ = source.onnx_path((3, 16, 16), "fp32", tmp_path)
    from_file = ModelSpec.from_marker(str(fp32), "net").resolve(tmp_path, 0)
    impl = make_backend("onnxruntime", BackendOptions())
    assert impl.unavailable_reason(Case("onnxruntime", "cpu", "int8", 2, (3, 16, 16)), from_file) is None
    assert "fp16" in impl.unavailable_reason(Case("onnxruntime", "cpu", "fp16", 2, (3, 16, 16)), from_file)
    path, phases = from_file.int8_onnx_path((3, 16, 16), tmp_path / "cache")
    assert quantize.has_qdq(path) and set(phases) == {"quantize_s"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("batch", [1, 64])
def test_int8_onnxruntime_cuda_ep_cell_on_resnet18(batch, tmp_path_factory):
    """The Q/DQ ResNet-18 on the CUDA EP with IO binding, next to fp32 (numbers for the closing note)."""
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.measure.runner import run_cell
    from pytest_infperf.measure.timing import TimingPolicy
    from pytest_infperf.settings import BackendOptions

    source = ModelSpec.from_marker("pytest_infperf.artifacts.models:resnet18", "resnet18").resolve(Path("."), 0)
    cache = tmp_path_factory.getbasetemp() / "infperf-onnx"
    results = {}
    for precision in ("fp32", "int8"):
        case = Case("onnxruntime", "cuda", precision, batch, (3, 224, 224))
        impl = make_backend("onnxruntime", BackendOptions())
        reason = impl.unavailable_reason(case, source)
        if reason:
            pytest.skip(reason)
        impl.prepare(source)
        results[precision] = run_cell(f"gpu::{case.id}", case, impl, source, TimingPolicy(min_rounds=10, max_time=1.0),
                                      cache, 0, reference=source.reference_output)
    int8 = results["int8"]
    print(f"ORT CUDA EP ResNet-18 b{batch}: fp32 {results['fp32'].summary.median * 1e3:.3f} ms, int8 (Q/DQ) "
          f"{int8.summary.median * 1e3:.3f} ms, int8 max rel error {int8.check.max_rel_error:.4f}, "
          f"cold {dict(int8.cold.phases)}, providers {dict(int8.details)['providers']}")
    assert dict(int8.details)["io"] == "device" and dict(int8.details)["providers"][0] == "CUDAExecutionProvider"
    assert int8.check is not None and int8.check.ok, int8.check


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_tensorrt_family_says_why_it_cannot_run_on_this_gpu_machine():
    """On a GPU machine without TensorRT the three backends skip with a reason that names the fix (where
    onnxruntime-gpu lists the TensorRT EP without TensorRT's libraries, that is what the reason must say)."""
    from pytest_infperf.backends import make_backend
    from pytest_infperf.matrix import Case
    from pytest_infperf.settings import BackendOptions

    source = ModelSpec.from_marker("pytest_infperf.artifacts.models:resnet18", "resnet18").resolve(Path("."), 0)
    for name in ("tensorrt", "onnxruntime-trt", "torch-tensorrt"):
        case = Case(name, "cuda", "fp16", 8, (3, 224, 224))
        reason = make_backend(name, BackendOptions()).unavailable_reason(case, source)
        print(f"{name}: {reason or 'available'}; tensorrt importable: {'tensorrt' in sys.modules}")
        assert reason is None or "pip install" in reason
