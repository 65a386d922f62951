"""Lazy registry of backends: name -> "module:Class". Nothing heavy is imported until a backend is made."""

from __future__ import annotations

import importlib

from .base import Backend, Session

REGISTRY: dict[str, str] = {
    "torch": "pytest_infperf.backends.torch_backend:TorchBackend",
    "onnxruntime": "pytest_infperf.backends.onnxruntime_backend:OnnxRuntimeBackend",
}


def make_backend(name: str) -> Backend:
    module_name, _, attr = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls()


__all__ = ["REGISTRY", "Backend", "Session", "make_backend"]
