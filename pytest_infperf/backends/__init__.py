"""Lazy registry of backends: name -> "module:Class". Nothing heavy is imported until a backend is made."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import Backend, Session

if TYPE_CHECKING:
    from .options import BackendOptions

_TORCH = "pytest_infperf.backends.torch_backend"
_ORT = "pytest_infperf.backends.onnxruntime_backend"
REGISTRY: dict[str, str] = {
    "torch": f"{_TORCH}:TorchBackend",
    "torch-cudagraph": f"{_TORCH}:TorchCudaGraphBackend",
    "torch-compile": f"{_TORCH}:TorchCompileBackend",
    "torch-compile-cudagraphs": f"{_TORCH}:TorchCompileCudaGraphsBackend",
    "onnxruntime": f"{_ORT}:OnnxRuntimeBackend",
    "onnxruntime-host": f"{_ORT}:OnnxRuntimeHostBackend",
    "onnxruntime-cudagraph": f"{_ORT}:OnnxRuntimeCudaGraphBackend",
    "tensorrt": "pytest_infperf.backends.tensorrt_backend:TensorRTBackend",
    "onnxruntime-trt": "pytest_infperf.backends.ort_tensorrt_backend:OnnxRuntimeTensorRTBackend",
    "torch-tensorrt": "pytest_infperf.backends.torch_tensorrt_backend:TorchTensorRTBackend",
}


def make_backend(name: str, options: BackendOptions) -> Backend:
    module_name, _, attr = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls(options)


__all__ = ["REGISTRY", "Backend", "Session", "make_backend"]
