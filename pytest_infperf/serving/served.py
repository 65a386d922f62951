"""How the served process turns a perf test's model into the function Triton's Python backend calls.

``ServedBackend`` is the plug-in point: torch on CPU is here; onnxruntime (CUDA with IO binding) and torch-cudagraph on
the GPU are further implementations of the same Protocol. Runs in the serving interpreter; frameworks imported lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


class ServedBackend(Protocol):
    name: str

    def load(self, model: Any, device: str, precision: str) -> Infer:
        """Make ``model`` (what the factory returned) callable on a numpy batch, returning a numpy batch."""
        ...


class PythonBackend:
    """A factory that returns a plain callable on numpy arrays (toys, pre/post-processing pipelines)."""

    name = "python"

    def load(self, model: Any, device: str, precision: str) -> Infer:
        if device != "cpu" or precision != "fp32":
            raise ValueError(f"backend 'python' runs fp32 on cpu only (asked {device}/{precision})")
        return lambda x: np.asarray(model(x))


class TorchBackend:
    """Eager torch under ``inference_mode`` (the ``torch`` backend of the in-process cells)."""

    name = "torch"

    def load(self, model: Any, device: str, precision: str) -> Infer:
        import torch

        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        module = model.eval().to(device=device, dtype=dtype)

        def infer(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = module(torch.from_numpy(x).to(device=device, dtype=dtype))
            return out.float().cpu().numpy()

        return infer


BACKENDS: dict[str, Callable[[], ServedBackend]] = {"python": PythonBackend, "torch": TorchBackend}


def build(spec: dict[str, Any]) -> Any:
    """Call the model factory named by ``spec`` (``import``: "module:attr"; ``file``: a function in a test file)."""
    for extra in spec.get("sys_path", ()):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    if spec["kind"] == "import":
        module_name, _, attr = spec["target"].partition(":")
        obj: Any = importlib.import_module(module_name)
    else:
        path = Path(spec["file"])
        name = spec.get("module") or path.stem
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec and module_spec.loader, path
        obj = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = obj
        module_spec.loader.exec_module(obj)
        attr = spec["qualname"]
    for part in attr.split("."):
        obj = getattr(obj, part)
    try:
        import torch

        torch.manual_seed(int(spec.get("seed", 0)))
    except ImportError:
        pass
    return obj()


def pick(model: Any, name: str) -> ServedBackend:
    if name == "auto":
        name = "torch" if type(model).__module__.startswith("torch") or hasattr(model, "parameters") else "python"
    if name not in BACKENDS:
        raise ValueError(f"serving backend {name!r} unknown; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name]()
