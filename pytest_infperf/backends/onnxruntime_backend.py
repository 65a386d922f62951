"""ONNX Runtime backends.

``onnxruntime``: CPUExecutionProvider on cpu; on cuda the CUDAExecutionProvider with IO binding: input and output
live on the device, so a call measures inference, not host copies. ``onnxruntime-host`` is the explicit end-to-end
variant (numpy in, numpy out: H2D and D2H included). ``onnxruntime-cudagraph`` turns on the provider's CUDA graph.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu, progress
from ..artifacts.quantize import calibration_feeds
from ..inputs import Inputs, dynamic_axes, ort_feeds
from ..measure.timing import BlockTimer, SyncedClockTimer
from .base import import_library

if TYPE_CHECKING:
    import numpy as np

    from ..artifacts.models import ModelSource
    from ..matrix import Case
    from .options import BackendOptions

_NUMPY = {"fp32": "float32", "fp16": "float16"}


@functools.cache
def _preload_cuda_libraries() -> None:
    """Load CUDA/cuDNN from the nvidia-* wheels (or those torch brought) once per process, not in every cell's
    cold start."""
    import onnxruntime

    if hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()


def _cuda_sync() -> None:
    """Drain the whole device (ORT runs on its own stream). ORT's Run already waits for its stream by default;
    this makes the block boundary explicit and independent of that default."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class OnnxRuntimeSession:
    def __init__(self, session: Any, run: Any, output: Any, device: str, details: dict, phases: dict) -> None:
        self._session = session
        self._run = run
        self._output = output
        self._device = device
        self.details = details
        self.phases = phases
        self._keep: Any = None
        self._enqueue: Any = None  # IO binding on cuda: a run that returns once its work is queued

    def launch_diagnosis(self, calls: int) -> tuple[float, float] | None:
        """Host time to enqueue a call against the time per call of the whole block, measured after the timed
        blocks (never inside them): ``Run`` normally waits for its stream, so the timed calls cannot show how long
        the host takes to launch one; this block runs with ``disable_synchronize_execution_providers``, as torch's
        CUDA-event timer records its host enqueue time. None where it does not apply (CPU, host feeds)."""
        if self._enqueue is None:
            return None
        self.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            self._enqueue()
        host = time.perf_counter() - start
        self.synchronize()
        total = time.perf_counter() - start
        return host / calls, total / calls

    def run(self) -> object:
        return self._run()

    def synchronize(self) -> None:
        if self._device == "cuda":
            _cuda_sync()

    def block_timer(self) -> BlockTimer:
        return SyncedClockTimer(sync=self.synchronize)

    def output(self) -> np.ndarray | list[np.ndarray]:
        """Every output of the graph as float32: one array, or a list when there are several."""
        out = self._output()
        if isinstance(out, list):
            return out[0].astype("float32") if len(out) == 1 else [o.astype("float32") for o in out]
        return out.astype("float32")

    def close(self) -> None:
        self._session = self._run = self._output = self._keep = self._enqueue = None

    def __enter__(self) -> OnnxRuntimeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OnnxRuntimeBackend:
    name = "onnxruntime"
    io_binding = True
    cuda_graph = False
    supports_inputs = True  # several / integer inputs (inputs.py): every input fed or bound by name

    def __init__(self, options: BackendOptions | None = None) -> None:
        from .options import BackendOptions

        self.options = (options or BackendOptions()).onnxruntime

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import onnxruntime
        except ImportError:
            return f"{case.id}: onnxruntime is not installed; pip install 'pytest-infperf[onnxruntime]'"
        if case.precision not in (*_NUMPY, "int8"):
            return (f"{case.id}: {self.name} runs fp32 and fp16 exports and int8 Q/DQ models; {case.precision} has "
                    "no export/kernels here")
        if case.device == "cpu" and case.precision == "fp16":
            return f"{case.id}: {self.name} on cpu is measured in fp32 and int8; use fp32 or int8 on cpu"
        if case.device == "cpu" and self.cuda_graph:
            return f"{case.id}: {self.name} uses CUDA graphs; select --infperf-devices=cuda"
        if case.precision == "int8" and self.cuda_graph:
            # seen on an H100 with onnxruntime-gpu 1.31.1: the Q/DQ model keeps nodes on the CPU (21 Memcpy nodes)
            # and the session refuses graph capture
            return (f"{case.id}: onnxruntime's CUDA EP does not place every node of the int8 Q/DQ model on the GPU, "
                    "so it cannot capture a CUDA graph; measure int8 with the onnxruntime backend")
        if case.device == "cuda":
            reason = gpu.cuda_unavailable_reason(case.id)
            if reason:
                return reason
            providers = onnxruntime.get_available_providers()
            if "CUDAExecutionProvider" not in providers:
                return (
                    f"{case.id}: this onnxruntime has no CUDAExecutionProvider (providers: {', '.join(providers)}); "
                    "pip uninstall onnxruntime && pip install onnxruntime-gpu"
                )
        if source.onnx_file is not None and case.precision not in ("fp32", "int8"):
            return (f"{case.id}: model {source.name!r} is a given ONNX file; its own precision (fp32) and int8 "
                    "(quantized from it) are measured")
        if case.precision == "int8":
            try:
                import onnx  # noqa: F401  # the quantizer reads and writes the model with it
            except ImportError:
                return f"{case.id}: int8 quantization needs onnx; pip install onnx"
        return None

    def prepare(self, source: ModelSource) -> None:
        import_library("onnxruntime")
        if source.onnx_file is None:
            source.torch_module()  # the export itself is cold start; building the module is not

    def _provider_options(self) -> dict[str, str]:
        options = dict(self.options.cuda_options)
        if self.cuda_graph:
            options["enable_cuda_graph"] = "1"
        return options

    provider_hint = "check CUDA/cuDNN libraries"

    def _model_path(self, case: Case, source: ModelSource, cache_dir: Path, phases: dict[str, float],
                    inputs: Any = None) -> Path:
        """The model this cell runs: the export in the cell's precision, or for int8 the cached Q/DQ model. Several
        inputs (`inputs.Inputs`): one export with dynamic batch and named dims serves every cell of the test.
        (Subclasses that override it without ``inputs`` run one float input only: ``supports_inputs = False``.)"""
        if case.precision == "int8":
            if isinstance(inputs, Inputs) and case.inputs is not None:
                path, spent = source.int8_onnx_path(
                    case.input_shape, cache_dir, inputs=inputs, signature=case.inputs.signature(dict(case.dims)),
                    dynamic=dynamic_axes(case.inputs, inputs),
                    feeds=calibration_feeds(case.inputs, dict(case.dims), source.seed))
            else:
                path, spent = source.int8_onnx_path(case.input_shape, cache_dir)
            phases.update(spent)
            return path
        start = time.perf_counter()
        if isinstance(inputs, Inputs) and case.inputs is not None:
            path, exported = source.onnx_path(
                case.input_shape, case.precision, cache_dir, inputs=inputs,
                signature=case.inputs.signature(dict(case.dims)), dynamic=dynamic_axes(case.inputs, inputs))
        else:
            path, exported = source.onnx_path(case.input_shape, case.precision, cache_dir)
        if exported:
            phases["export_s"] = time.perf_counter() - start
        return path

    def _providers(self, case: Case, path: Path, cache_dir: Path, details: dict[str, object],
                   inputs: Any = None) -> list[Any]:
        """Execution providers, the first one required (a session that fell back to another is an error)."""
        if case.device == "cuda":
            _preload_cuda_libraries()
            return [("CUDAExecutionProvider", self._provider_options())]
        return ["CPUExecutionProvider"]

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> OnnxRuntimeSession:
        import onnxruntime

        phases: dict[str, float] = {}
        if isinstance(inputs, Inputs):
            path = self._model_path(case, source, cache_dir, phases, inputs)
        else:
            path = self._model_path(case, source, cache_dir, phases)
        details: dict[str, object] = {}
        start = time.perf_counter()
        so = onnxruntime.SessionOptions()
        so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads > 0:  # --infperf-threads
            so.intra_op_num_threads = self.options.threads
        providers = self._providers(case, path, cache_dir, details, inputs)
        progress.report(f"creating the onnxruntime session ({self.name})")
        session = onnxruntime.InferenceSession(str(path), so, providers=providers)
        details["threads"] = session.get_session_options().intra_op_num_threads or "default"
        expected = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
        if session.get_providers()[0] != expected:
            raise RuntimeError(f"{case.id}: onnxruntime fell back to {session.get_providers()}; {expected} did "
                               f"not load ({self.provider_hint})")
        phases["session_s"] = time.perf_counter() - start
        if isinstance(inputs, Inputs):  # every input of the graph, each in the dtype the graph declares
            feeds = ort_feeds(session, inputs, source.name)
        else:
            meta = session.get_inputs()[0]
            x = inputs.astype("float16" if meta.type == "tensor(float16)" else "float32")  # int8 Q/DQ: float32 in
            feeds = {meta.name: x}
        several = isinstance(inputs, Inputs) or len(session.get_outputs()) > 1
        details.update({
            "providers": session.get_providers(),
            "provider_options": {k: v for k, v in session.get_provider_options().items()
                                 if k == session.get_providers()[0]},
            "io": "device" if (case.device == "cuda" and self.io_binding) else "host",
        })
        if case.precision == "int8":
            details["int8"] = "Q/DQ model (ONNX Runtime static quantization, see quantize.py)"
        enqueue = None
        if case.device == "cuda" and self.io_binding:
            if several:
                run, output, keep = self._bind_all(onnxruntime, session, feeds)
            else:
                (name, x), = feeds.items()
                run, output, keep = self._bind(onnxruntime, session, name, x)
            binding = keep[2]
            no_sync = onnxruntime.RunOptions()
            no_sync.add_run_config_entry("disable_synchronize_execution_providers", "1")

            def enqueue() -> Any:
                session.run_with_iobinding(binding, no_sync)
        else:
            last: dict[str, Any] = {}

            def run() -> Any:
                last["out"] = session.run(None, feeds)
                return last["out"]

            def output() -> Any:
                return list(last["out"]) if several else last["out"][0]

            keep = None
        result = OnnxRuntimeSession(session, run, output, case.device, details, phases)
        result._keep = keep
        result._enqueue = enqueue
        return result

    def _bind(self, onnxruntime: Any, session: Any, name: str, x: np.ndarray) -> tuple[Any, Any, Any]:
        """Device-resident input and a preallocated device output (fixed addresses, as CUDA graphs require)."""
        import numpy as np

        x_dev = onnxruntime.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
        meta = session.get_outputs()[0]
        shape = [x.shape[0] if i == 0 and not isinstance(d, int) else d for i, d in enumerate(meta.shape)]
        if not all(isinstance(d, int) for d in shape):
            raise RuntimeError(f"output {meta.name!r} has symbolic dims {meta.shape} beyond the batch; "
                               "use onnxruntime-host for this model")
        dtype = np.float16 if meta.type == "tensor(float16)" else np.float32
        y_dev = onnxruntime.OrtValue.ortvalue_from_shape_and_type(shape, dtype, "cuda", 0)
        binding = session.io_binding()
        binding.bind_ortvalue_input(name, x_dev)
        binding.bind_ortvalue_output(session.get_outputs()[0].name, y_dev)

        def run() -> Any:
            session.run_with_iobinding(binding)
            return y_dev

        def output() -> Any:
            return y_dev.numpy()

        return run, output, (x_dev, y_dev, binding)

    def _bind_all(self, onnxruntime: Any, session: Any, feeds: dict[str, np.ndarray],
                  device: str = "cuda") -> tuple[Any, Any, Any]:
        """Every input on the device and every output preallocated on the device (fixed addresses, as CUDA graphs
        require). Output shapes come from one host-fed run at load (named dims make them unknowable from the graph:
        a sequence axis is symbolic in every output that carries it)."""
        import numpy as np

        shapes = session.run(None, feeds)
        binding = session.io_binding()
        x_devs = []
        for name, value in feeds.items():
            x_dev = onnxruntime.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), device, 0)
            binding.bind_ortvalue_input(name, x_dev)
            x_devs.append(x_dev)
        y_devs = []
        for meta, host in zip(session.get_outputs(), shapes, strict=True):
            host = np.asarray(host)
            y_dev = onnxruntime.OrtValue.ortvalue_from_shape_and_type(list(host.shape), host.dtype.type, device, 0)
            binding.bind_ortvalue_output(meta.name, y_dev)
            y_devs.append(y_dev)

        def run() -> Any:
            session.run_with_iobinding(binding)
            return y_devs

        def output() -> Any:
            return [y.numpy() for y in y_devs]

        return run, output, (x_devs, y_devs, binding)

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "onnxruntime_device": onnxruntime.get_device()}


class OnnxRuntimeHostBackend(OnnxRuntimeBackend):
    """End to end: numpy input and output through ``run()``, host/device copies included in every call."""

    name = "onnxruntime-host"
    io_binding = False


class OnnxRuntimeCudaGraphBackend(OnnxRuntimeBackend):
    """CUDAExecutionProvider with ``enable_cuda_graph=1`` (requires IO binding with fixed addresses)."""

    name = "onnxruntime-cudagraph"
    cuda_graph = True
