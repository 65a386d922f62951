"""The served backends (``serving/served.py``) called directly, without a server: what Triton's Python backend would
call with a formed batch. CPU here; the CUDA ones (torch-cudagraph, onnxruntime CUDA) in ``tests/e2e/test_gpu.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_infperf.serving import served

torch = pytest.importorskip("torch")


def small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 6 * 6, 5))


def batch(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, 3, 8, 8), dtype=np.float32)


def reference(net, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


def test_buckets_are_powers_of_two_up_to_the_largest_batch() -> None:
    assert served.buckets(1) == (1,)
    assert served.buckets(8) == (1, 2, 4, 8)
    assert served.buckets(6) == (1, 2, 4, 6)
    assert served.buckets(64) == (1, 2, 4, 8, 16, 32, 64)


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_a_served_backend_computes_the_models_output_for_any_formed_batch(name: str, tmp_path: Path) -> None:
    if name == "onnxruntime":
        pytest.importorskip("onnxruntime")
    net = small_net().eval()
    serve = served.Serve(device="cpu", precision="fp32", input_shape=(3, 8, 8), max_batch=8, workdir=tmp_path)
    infer = served.BACKENDS[name]().load(net, serve)
    for n in (1, 3, 8):
        x = batch(n)
        out = infer(x)
        assert out.dtype == np.float32 and out.shape == (n, 5)
        np.testing.assert_allclose(out, reference(net, x), rtol=1e-4, atol=1e-5)


def test_onnxruntime_serves_fp16_from_an_fp16_export(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    net = small_net().eval()
    serve = served.Serve(precision="fp16", input_shape=(3, 8, 8), max_batch=4, workdir=tmp_path)
    infer = served.OnnxRuntimeBackend().load(net, serve)
    x = batch(4)
    out = infer(x)
    assert out.dtype == np.float32 and (tmp_path / "served-fp16.onnx").is_file()
    np.testing.assert_allclose(out, reference(net, x), rtol=2e-2, atol=2e-2)


def test_backends_refuse_what_they_cannot_run_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cuda only"):
        served.TorchCudaGraphBackend().load(small_net(), served.Serve(input_shape=(3, 8, 8), workdir=tmp_path))
    with pytest.raises(ValueError, match="fp32 on cpu only"):
        served.PythonBackend().load(lambda x: x, served.Serve(device="cuda"))
    with pytest.raises(ValueError, match="fp32 or fp16"):
        served.OnnxRuntimeBackend().load(small_net(), served.Serve(precision="bf16", input_shape=(3, 8, 8)))
    with pytest.raises(ValueError, match="choose from python, torch, torch-cudagraph, onnxruntime"):
        served.pick(small_net(), "tensorrt")
    assert served.pick(small_net(), "auto").name == "torch" and served.pick(lambda x: x, "auto").name == "python"


def test_onnxruntime_on_cuda_gives_every_bucket_its_own_session_that_sees_one_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Formed batches of changing sizes: each padded into its bucket, run by that bucket's session only (warmed at
    load), the padding cut off the output. The sessions are faked: this checks the routing, not ONNX Runtime."""
    ort = pytest.importorskip("onnxruntime")
    seen: list[list[tuple[int, ...]]] = []

    def fake_call(onnxruntime, path, provider, device, dtype):
        assert provider == "CUDAExecutionProvider" and device == "cuda"
        shapes: list[tuple[int, ...]] = []
        seen.append(shapes)

        def call(x):
            shapes.append(x.shape)
            return x.reshape(len(x), -1)[:, :2].astype(np.float32)

        return call

    monkeypatch.setattr(served, "_ort_call", fake_call)
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: None, raising=False)
    serve = served.Serve(device="cuda", precision="fp16", input_shape=(3, 8, 8), max_batch=8, workdir=tmp_path)
    infer = served.OnnxRuntimeBackend().load(small_net(), serve)
    for n in (1, 3, 2, 7, 8, 5, 1):
        x = batch(n)
        out = infer(x)
        np.testing.assert_allclose(out, x.reshape(n, -1)[:, :2], rtol=1e-3, atol=1e-3)  # fp16 when padded
    assert len(seen) == 4  # buckets 1, 2, 4, 8
    for shapes in seen:
        assert len(set(shapes)) == 1 and len(shapes) >= 2, shapes  # the warm-up and the calls: one shape each
