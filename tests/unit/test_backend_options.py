"""backends.options: each backend family's knobs, and the flat ini names they come from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_infperf.backends import make_backend
from pytest_infperf.backends.options import BackendOptions, OnnxRuntimeOptions, TensorRTOptions, TorchOptions


def test_flat_ini_names_land_in_their_family():
    options = BackendOptions.flat(channels_last="off", ort_cuda_options=(("a", "1"),), trt_workspace_mib=1024,
                                  trt_max_batch=64)
    assert options.torch == TorchOptions(channels_last="off")
    assert options.onnxruntime == OnnxRuntimeOptions(cuda_options=(("a", "1"),))
    assert options.tensorrt == TensorRTOptions(workspace_mib=1024, max_batch=64)
    with pytest.raises(TypeError, match="unknown backend options"):
        BackendOptions.flat(trt_workspace=1)


def test_each_backend_keeps_its_familys_options():
    options = BackendOptions.flat(tf32="on", ort_cuda_options=(("x", "y"),), trt_cuda_graph=True)
    assert make_backend("torch", options).options == options.torch  # type: ignore[attr-defined]
    assert make_backend("onnxruntime", options).options == options.onnxruntime  # type: ignore[attr-defined]
    assert make_backend("tensorrt", options).options == options.tensorrt  # type: ignore[attr-defined]
    ort_trt = make_backend("onnxruntime-trt", options)
    assert ort_trt.options == options.onnxruntime and ort_trt.trt == options.tensorrt  # type: ignore[attr-defined]


def test_backends_read_the_case_directly():
    """A Case always has its fields (concurrency included): a defensive ``getattr(case, ..., default)`` would hide a
    wrong object behind the default instead of failing."""
    folder = Path(make_backend.__code__.co_filename).parent
    found = [f"{path.name}:{n}" for path in sorted(folder.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"getattr\(\s*case\b", line)]
    assert found == []
