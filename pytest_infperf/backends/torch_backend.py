"""PyTorch eager backend (CPU and CUDA)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu
from ..timing import BlockTimer, SyncedClockTimer

if TYPE_CHECKING:
    import numpy as np

    from ..matrix import Case
    from ..models import ModelSource

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class TorchSession:
    def __init__(self, model: Any, inputs: Any, device: str) -> None:
        import torch

        self._torch = torch
        self._model = model
        self._inputs = inputs
        self._device = device
        self._out: Any = None
        self._mode = torch.inference_mode()

    def run(self) -> object:
        with self._mode:
            self._out = self._model(self._inputs)
        return self._out

    def synchronize(self) -> None:
        if self._device == "cuda":
            self._torch.cuda.synchronize()

    def block_timer(self) -> BlockTimer:
        return SyncedClockTimer(sync=self.synchronize)

    def output(self) -> np.ndarray:
        self.synchronize()
        return self._out.detach().float().cpu().numpy()

    def close(self) -> None:
        self._model = self._inputs = self._out = None
        if self._device == "cuda":
            self._torch.cuda.synchronize()
            self._torch.cuda.empty_cache()

    def __enter__(self) -> TorchSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TorchBackend:
    name = "torch"

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import torch
        except ImportError:
            return f"{case.id}: torch is not installed; pip install 'pytest-infperf[torch]'"
        if not source.is_torch:
            return f"{case.id}: model {source.name!r} is an ONNX file; the torch backend needs a torch model factory"
        if case.precision not in _DTYPES:
            return f"{case.id}: torch eager has no {case.precision} path here; use fp32, fp16 or bf16"
        if case.device == "cuda":
            return gpu.cuda_unavailable_reason(case.id)
        if case.device == "cpu" and case.precision == "fp16":
            return f"{case.id}: fp16 on CPU is not a deployment target for torch eager; use fp32 or bf16 on cpu"
        del torch
        return None

    def prepare(self, source: ModelSource) -> None:
        source.torch_module()

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TorchSession:
        import copy

        import torch

        dtype = getattr(torch, _DTYPES[case.precision])
        model = copy.deepcopy(source.torch_module()).to(device=case.device, dtype=dtype).eval()
        x = torch.from_numpy(inputs).to(device=case.device, dtype=dtype)
        return TorchSession(model, x, case.device)

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
