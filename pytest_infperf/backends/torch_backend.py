"""PyTorch backends: eager (CPU and CUDA), eager replayed as a CUDA graph, and torch.compile (inductor)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu
from ..inputs import Inputs, caller, check_signature, host_outputs, to_torch
from ..measure.timing import BlockTimer, CudaEventTimer, SyncedClockTimer

if TYPE_CHECKING:
    import numpy as np

    from ..artifacts.models import ModelSource
    from ..matrix import Case
    from .options import BackendOptions

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class TorchSession:
    """A model on its device and precision with its input bound. Inference mode is held while the session is open,
    so that entering it is not part of every timed call."""

    def __init__(
        self, call: Any, inputs: Any, device: str, details: dict[str, object], restore: list[Any] | None = None,
        stream: Any = None,
    ) -> None:
        import torch

        self._torch = torch
        self._call = call
        self._inputs = inputs
        self._device = device
        self._out: Any = None
        self._modes = contextlib.ExitStack()
        for undo in restore or []:
            self._modes.callback(undo)
        self.details = details
        self.phases: dict[str, float] = {}
        self._stream = stream  # a concurrent user's own stream; None: the current stream

    def run(self) -> object:
        if self._stream is None:
            self._out = self._call(self._inputs)
        else:  # a concurrent user's thread: inference mode is per thread, so it is entered here too
            with self._torch.inference_mode(), self._torch.cuda.stream(self._stream):
                self._out = self._call(self._inputs)
        return self._out

    def synchronize(self) -> None:
        if self._device != "cuda":
            return
        if self._stream is None:
            self._torch.cuda.synchronize()
        else:
            self._stream.synchronize()  # this user's work only, not the other users'

    def block_timer(self) -> BlockTimer:
        if self._device == "cuda":
            return CudaEventTimer()
        return SyncedClockTimer(sync=self.synchronize)

    def output(self) -> np.ndarray | list[np.ndarray]:
        """Every tensor of the output (tuple, list, dict, ModelOutput): one array, or a list when there are several."""
        self.synchronize()
        outputs = host_outputs(self._out)
        return outputs[0] if len(outputs) == 1 else outputs

    def close(self) -> None:
        self._modes.close()
        self._call = self._inputs = self._out = self._stream = None
        self.__dict__.pop("_keep", None)  # a CUDA graph and its memory pool die with the session
        if self._device == "cuda":
            self._torch.cuda.synchronize()
            self._torch.cuda.empty_cache()

    def __enter__(self) -> TorchSession:
        self._modes.enter_context(self._torch.inference_mode())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TorchBackend:
    """Eager PyTorch. On CUDA: channels_last (option) and TF32 state for fp32 (option), both recorded per cell."""

    name = "torch"
    cuda_only = False
    supports_inputs = True  # several / integer inputs (inputs.py)

    def __init__(self, options: BackendOptions | None = None) -> None:
        from .options import BackendOptions

        self.options = (options or BackendOptions()).torch

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import torch
        except ImportError:
            return f"{case.id}: torch is not installed; pip install 'pytest-infperf[torch]'"
        if not source.is_torch:
            return f"{case.id}: model {source.name!r} is an ONNX file; the {self.name} backend needs a torch model"
        if case.precision not in _DTYPES:
            return f"{case.id}: {self.name} has no {case.precision} path; use fp32, fp16 or bf16"
        if self.cuda_only and case.device != "cuda":
            return f"{case.id}: {self.name} replays CUDA graphs and runs on cuda only; select --infperf-devices=cuda"
        if case.device == "cuda":
            return gpu.cuda_unavailable_reason(case.id)
        if case.precision == "fp16":
            return f"{case.id}: fp16 on CPU is not a deployment target for torch; use fp32 or bf16 on cpu"
        del torch
        return None

    def prepare(self, source: ModelSource) -> None:
        source.torch_module()

    def _channels_last(self, case: Case) -> bool:
        if case.device != "cuda" or len(case.input_shape) != 3 or case.inputs is not None:
            return False
        return self.options.channels_last in ("auto", "on")

    def _tf32(self, case: Case, session_restore: list[Any]) -> dict[str, object]:
        import torch

        if case.device == "cuda" and self.options.tf32 != "default":
            before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)

            def restore() -> None:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before

            session_restore.append(restore)
            enabled = self.options.tf32 == "on"
            torch.backends.cuda.matmul.allow_tf32 = enabled
            torch.backends.cudnn.allow_tf32 = enabled
        return {"tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32)}

    @staticmethod
    def _user_stream(case: Case) -> Any:
        """Concurrent users each get their own CUDA stream, as a server's model instances do."""
        if case.device != "cuda" or case.concurrency <= 1:
            return None
        import torch

        return torch.cuda.Stream()

    def _model_and_input(
        self, case: Case, source: ModelSource, inputs: np.ndarray, restore: list[Any]
    ) -> tuple[Any, Any, dict]:
        import copy

        import torch

        dtype = getattr(torch, _DTYPES[case.precision])
        model = copy.deepcopy(source.torch_module()).to(device=case.device, dtype=dtype).eval()
        if isinstance(inputs, Inputs):  # several / integer inputs: float ones in the cell's precision
            check_signature(model, inputs, source.name)
            x: Any = to_torch(inputs, case.device, dtype)
        else:
            x = torch.from_numpy(inputs).to(device=case.device, dtype=dtype)
        details: dict[str, object] = {"channels_last": self._channels_last(case)}
        if details["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        if case.precision == "fp32":
            details.update(self._tf32(case, restore))
        if case.device == "cuda":
            details["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
        details.update(self._threads(restore))
        return model, x, details

    def _threads(self, session_restore: list[Any]) -> dict[str, object]:
        """``--infperf-threads``: torch's intra-op threads for this session (process-wide, undone when it closes)."""
        import torch

        if self.options.threads > 0:
            before = torch.get_num_threads()
            session_restore.append(lambda: torch.set_num_threads(before))
            torch.set_num_threads(self.options.threads)
        return {"threads": torch.get_num_threads()}

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TorchSession:
        restore: list[Any] = []
        model, x, details = self._model_and_input(case, source, inputs, restore)
        return TorchSession(caller(model, x), x, case.device, details, restore, stream=self._user_stream(case))

    def versions(self) -> dict[str, str]:
        import torch

        out = {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
        if torch.version.cuda:
            out["torch_cuda"] = str(torch.version.cuda)
            if torch.backends.cudnn.is_available():
                out["cudnn"] = str(torch.backends.cudnn.version())
        return out


def capture_graph(call: Any, x: Any) -> tuple[Any, Any]:
    """``call(x)`` captured into a CUDA graph after three warm-up calls on a side stream (cuDNN and cuBLAS pick their
    algorithms before capture): the graph and its static output. ``x`` stays the graph's static input."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(side):
        for _ in range(3):
            call(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = call(x)
    return graph, static_out


class TorchCudaGraphBackend(TorchBackend):
    """Eager model captured once into a CUDA graph; a call is one graph replay. Measures the device, not the host
    launch path. Capture (after a warm-up on a side stream) is cold start."""

    name = "torch-cudagraph"
    cuda_only = True

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TorchSession:
        restore: list[Any] = []
        model, x, details = self._model_and_input(case, source, inputs, restore)
        # the inputs' device tensors (all of them) are the graph's static inputs
        graph, static_out = capture_graph(caller(model, x), x)

        def replay(_: Any) -> Any:
            graph.replay()
            return static_out

        details["cuda_graph"] = True
        session = TorchSession(replay, x, case.device, details, restore, stream=self._user_stream(case))
        session._keep = (graph, model, static_out)  # type: ignore[attr-defined]  # graph memory lives with the session
        return session


class TorchCompileBackend(TorchBackend):
    """torch.compile with inductor. Compilation happens on the first call: it is the cell's cold start (first call),
    never steady state. Dynamo is reset per cell so a shape never reuses (or exhausts) another cell's cache."""

    name = "torch-compile"
    mode: str | None = None

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TorchSession:
        import torch

        restore: list[Any] = []
        model, x, details = self._model_and_input(case, source, inputs, restore)
        if not getattr(self, "_reset", False):  # once per cell: concurrent users' sessions keep their compiled code
            torch._dynamo.reset()
            self._reset = True
        compiled = torch.compile(model, mode=self.mode, dynamic=False, fullgraph=False)
        details["compile_mode"] = self.mode or "default"
        return TorchSession(caller(compiled, x), x, case.device, details, restore, stream=self._user_stream(case))


class TorchCompileCudaGraphsBackend(TorchCompileBackend):
    """torch.compile in ``reduce-overhead`` mode: inductor kernels replayed through CUDA graphs."""

    name = "torch-compile-cudagraphs"
    mode = "reduce-overhead"
    cuda_only = True
