"""ONNX Runtime backend: CPUExecutionProvider (CUDA provider when onnxruntime-gpu is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu
from ..timing import BlockTimer, SyncedClockTimer

if TYPE_CHECKING:
    import numpy as np

    from ..matrix import Case
    from ..models import ModelSource

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
_NUMPY = {"fp32": "float32", "fp16": "float16"}


class OnnxRuntimeSession:
    def __init__(self, session: Any, feed: dict[str, Any], phases: dict[str, float]) -> None:
        self.phases = phases
        self._session = session
        self._feed = feed
        self._out: Any = None

    def run(self) -> object:
        self._out = self._session.run(None, self._feed)
        return self._out

    def synchronize(self) -> None:
        # run() with host feeds returns host outputs: the device work is done when it returns.
        return None

    def block_timer(self) -> BlockTimer:
        return SyncedClockTimer(sync=self.synchronize)

    def output(self) -> np.ndarray:
        return self._out[0].astype("float32")

    def close(self) -> None:
        self._session = None
        self._feed = {}
        self._out = None

    def __enter__(self) -> OnnxRuntimeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import onnxruntime
        except ImportError:
            return f"{case.id}: onnxruntime is not installed; pip install 'pytest-infperf[onnxruntime]'"
        if case.precision not in _NUMPY:
            return f"{case.id}: onnxruntime runs fp32 and fp16 here; {case.precision} is not supported yet"
        if case.device == "cpu" and case.precision != "fp32":
            return f"{case.id}: onnxruntime on cpu is measured in fp32 only; use fp32 on cpu"
        if case.device == "cuda":
            reason = gpu.cuda_unavailable_reason(case.id)
            if reason:
                return reason
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return (
                    f"{case.id}: this onnxruntime has no CUDAExecutionProvider "
                    f"(providers: {', '.join(onnxruntime.get_available_providers())}); "
                    "pip uninstall onnxruntime && pip install onnxruntime-gpu"
                )
        if source.onnx_file is None and not source.is_torch:
            return f"{case.id}: model {source.name!r} gives neither an ONNX file nor a torch model to export"
        return None

    def prepare(self, source: ModelSource) -> None:
        if source.onnx_file is None:
            source.torch_module()  # the export itself is cold start; building the module is not

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> OnnxRuntimeSession:
        import time

        import onnxruntime

        start = time.perf_counter()
        path, exported = source.onnx_path(case.input_shape, case.precision, cache_dir)
        phases = {"export_s": time.perf_counter() - start} if exported else {}
        start = time.perf_counter()
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(str(path), options, providers=[_PROVIDERS[case.device]])
        phases["session_s"] = time.perf_counter() - start
        name = session.get_inputs()[0].name
        return OnnxRuntimeSession(session, {name: inputs.astype(_NUMPY[case.precision])}, phases)

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}
