"""How the served process turns a perf test's model into the function Triton's Python backend calls.

``ServedBackend`` is the plug-in point: a plain numpy callable (``python``), eager torch (``torch``), eager torch
replayed from CUDA graphs (``torch-cudagraph``: one graph per batch bucket, a formed batch padded up to its bucket) and
ONNX Runtime (``onnxruntime``: CPU, or the CUDA provider with IO binding). Runs in the serving interpreter; frameworks
imported lazily. The batches Triton forms arrive as host numpy arrays and leave as host numpy arrays: the copies to
and from the device are part of serving and of every backend's time here."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Serve:
    """What a served backend is asked to build: device and precision, one sample's shape, the largest batch the
    batcher can form, and a folder for artifacts (an ONNX export)."""

    device: str = "cpu"
    precision: str = "fp32"
    input_shape: tuple[int, ...] = ()
    max_batch: int = 1
    workdir: Path = Path(".")


class ServedBackend(Protocol):
    name: str

    def load(self, model: Any, serve: Serve) -> Infer:
        """Make ``model`` (what the factory returned) callable on a numpy batch, returning a numpy batch."""
        ...


class PythonBackend:
    """A factory that returns a plain callable on numpy arrays (toys, pre/post-processing pipelines)."""

    name = "python"

    def load(self, model: Any, serve: Serve) -> Infer:
        if serve.device != "cpu" or serve.precision != "fp32":
            raise ValueError(f"backend 'python' runs fp32 on cpu only (asked {serve.device}/{serve.precision})")
        return lambda x: np.asarray(model(x))


def _torch_module(model: Any, serve: Serve) -> tuple[Any, Any, bool]:
    """The module on the device in the precision, channels-last for image batches on CUDA (as the in-process
    ``torch`` cells run it), its dtype, and whether inputs go channels-last."""
    import torch

    from ..backends.torch_backend import _DTYPES  # the in-process torch cells' precisions

    dtype = getattr(torch, _DTYPES[serve.precision])
    module = model.eval().to(device=serve.device, dtype=dtype)
    channels_last = serve.device == "cuda" and len(serve.input_shape) == 3
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module, dtype, channels_last


class TorchBackend:
    """Eager torch under ``inference_mode`` (the ``torch`` backend of the in-process cells)."""

    name = "torch"

    def load(self, model: Any, serve: Serve) -> Infer:
        import torch

        module, dtype, channels_last = _torch_module(model, serve)
        fmt = torch.channels_last if channels_last else torch.contiguous_format

        def infer(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                batch = torch.from_numpy(x).to(device=serve.device, dtype=dtype).contiguous(memory_format=fmt)
                out = module(batch)
            return out.float().cpu().numpy()

        return infer


def buckets(max_batch: int) -> tuple[int, ...]:
    """The batch sizes captured as CUDA graphs: powers of two below ``max_batch``, and ``max_batch``."""
    sizes, b = [], 1
    while b < max_batch:
        sizes.append(b)
        b *= 2
    return (*sizes, max_batch)


def bucket_of(n: int, sizes: tuple[int, ...]) -> int:
    """The smallest bucket (of ``buckets``, ascending) that holds a formed batch of ``n``."""
    return next(s for s in sizes if s >= n)


class TorchCudaGraphBackend:
    """Eager torch captured once per batch bucket (`buckets`) into CUDA graphs at load time (server start, the cell's
    cold start); a formed batch is copied into the smallest bucket that holds it (the rest of the bucket keeps
    earlier samples: computed, not returned) and that bucket's graph is replayed. The graphs' static buffers are
    shared: replays are serialised (``instances`` > 1 run in threads of their own)."""

    name = "torch-cudagraph"

    def load(self, model: Any, serve: Serve) -> Infer:
        import torch

        from ..backends.torch_backend import capture_graph

        if serve.device != "cuda":
            raise ValueError("backend 'torch-cudagraph' runs on cuda only")
        module, dtype, channels_last = _torch_module(model, serve)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        generator = torch.Generator(device="cuda").manual_seed(0)
        graphs: dict[int, tuple[Any, Any, Any]] = {}
        sizes = buckets(serve.max_batch)
        for size in sizes:
            static_in = torch.randn((size, *serve.input_shape), device="cuda", generator=generator).to(dtype)
            static_in = static_in.contiguous(memory_format=fmt)
            graph, static_out = capture_graph(module, static_in)
            graphs[size] = (graph, static_in, static_out)
        lock = threading.Lock()

        def infer(x: np.ndarray) -> np.ndarray:
            n = len(x)
            size = bucket_of(n, sizes)
            graph, static_in, static_out = graphs[size]
            with lock, torch.inference_mode():
                static_in[:n].copy_(torch.from_numpy(x).to(device="cuda", dtype=dtype, non_blocking=False))
                graph.replay()
                return static_out[:n].float().cpu().numpy()

        return infer


class OnnxRuntimeBackend:
    """The model exported to ONNX (dynamic batch, the plugin's own export) in ``workdir``, run by ONNX Runtime: the
    CPU provider on cpu; on cuda the CUDA provider with IO binding (the batch bound from host memory, the output
    allocated on the device and copied back once).

    On cuda, **one session per batch bucket** (`buckets`; a formed batch padded up to its bucket, each session run
    once at load), so that no session ever sees its input shape change: on the H200 (ResNet-18 fp16, one session
    for every formed batch) an execution cost 90-400 ms whenever Triton formed batches of changing sizes and 9.7 ms
    when every formed batch fell into one bucket (`docs/results/NVIDIA_H200/serving/`). Costs one copy of the
    weights per bucket on the device."""

    name = "onnxruntime"

    def load(self, model: Any, serve: Serve) -> Infer:
        import onnxruntime

        from ..artifacts.models import export_onnx

        if serve.precision not in ("fp32", "fp16"):
            raise ValueError(f"backend 'onnxruntime' serves fp32 or fp16 (asked {serve.precision})")
        path = serve.workdir / f"served-{serve.precision}.onnx"
        export_onnx(model.eval(), serve.input_shape, serve.precision, path)
        dtype = np.float16 if serve.precision == "fp16" else np.float32
        if serve.device != "cuda":
            return _ort_call(onnxruntime, path, "CPUExecutionProvider", "cpu", dtype)
        if hasattr(onnxruntime, "preload_dlls"):
            onnxruntime.preload_dlls()
        sizes = buckets(serve.max_batch)
        rng = np.random.default_rng(0)
        padded = {size: rng.standard_normal((size, *serve.input_shape)).astype(dtype) for size in sizes}
        calls = {size: _ort_call(onnxruntime, path, "CUDAExecutionProvider", "cuda", dtype) for size in sizes}
        for size in sizes:  # each session's one shape, once, before the server reports ready
            calls[size](padded[size])

        def infer(x: np.ndarray) -> np.ndarray:
            n = len(x)
            size = bucket_of(n, sizes)
            if size == n:
                return calls[size](x)
            # the rest of the bucket: the warm-up's samples, computed and not returned
            return calls[size](np.concatenate([np.asarray(x, dtype=dtype), padded[size][n:]]))[:n]

        return infer


def _ort_call(onnxruntime: Any, path: Path, provider: str, device: str, dtype: Any) -> Infer:
    """One ONNX Runtime session on ``provider`` (required: a fallback is an error) as a call on a host batch, with IO
    binding: the input bound from host memory, the output allocated on ``device`` and copied back."""
    so = onnxruntime.SessionOptions()
    so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), so, providers=[provider])
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"onnxruntime fell back to {session.get_providers()}: {provider} did not load")
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name

    def call(x: np.ndarray) -> np.ndarray:
        binding = session.io_binding()
        binding.bind_cpu_input(name_in, np.ascontiguousarray(x, dtype=dtype))
        binding.bind_output(name_out, device)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)

    return call


BACKENDS: dict[str, Callable[[], ServedBackend]] = {
    "python": PythonBackend, "torch": TorchBackend, "torch-cudagraph": TorchCudaGraphBackend,
    "onnxruntime": OnnxRuntimeBackend,
}


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
