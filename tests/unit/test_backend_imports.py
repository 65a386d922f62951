"""A backend's library is imported by ``prepare``, before a cell's cold start is timed: the import is the process's
cost, and inside ``load`` it fell into the cold start of the first cell of each process only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BACKENDS = [
    ("pytest_infperf.backends.onnxruntime_backend", "OnnxRuntimeBackend", "onnxruntime"),
    ("pytest_infperf.backends.ort_tensorrt_backend", "OnnxRuntimeTensorRTBackend", "onnxruntime"),
    ("pytest_infperf.backends.tensorrt_backend", "TensorRTBackend", "tensorrt"),
    ("pytest_infperf.backends.torch_tensorrt_backend", "TorchTensorRTBackend", "torch_tensorrt"),
]

PREPARE = """
import sys, types
from {module} import {cls} as Backend
assert {library!r} not in sys.modules, "imported before prepare"
Backend().prepare(types.SimpleNamespace(onnx_file="model.onnx", torch_module=lambda: None))
print({library!r} in sys.modules)
"""


def _prepare(tmp_path, module: str, cls: str, library: str, fake: bool) -> str:
    """Run ``prepare`` in a fresh interpreter whose ``library`` is a stand-in module (or missing)."""
    path = tmp_path / "site"
    path.mkdir(exist_ok=True)
    if fake:
        (path / f"{library}.py").write_text("")
    else:  # a module that cannot be imported: prepare must leave the error to the cell's load
        (path / f"{library}.py").write_text("raise ImportError('no library here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(path), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", PREPARE.format(module=module, cls=cls, library=library)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module, cls, library", BACKENDS, ids=[b[1] for b in BACKENDS])
def test_prepare_imports_the_backend_library_before_the_cold_start(tmp_path, module, cls, library):
    assert _prepare(tmp_path, module, cls, library, fake=True) == "True"


@pytest.mark.parametrize("module, cls, library", BACKENDS[2:], ids=[b[1] for b in BACKENDS[2:]])
def test_prepare_leaves_a_missing_library_to_the_cells_load(tmp_path, module, cls, library):
    assert _prepare(tmp_path, module, cls, library, fake=False) == "False"
