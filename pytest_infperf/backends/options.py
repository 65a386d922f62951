"""Each backend family's own knobs, as frozen dataclasses (optimum-benchmark's ``BackendConfig`` per backend): the
torch ones, ONNX Runtime's CUDA provider options and the TensorRT builder's. ``settings`` fills them from the ini keys
and flags once; a backend reads only its family's. No heavy imports here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TorchOptions:
    """torch, torch-cudagraph, torch-compile*: memory format and TF32 on cuda."""

    channels_last: str = "auto"  # auto (on for cuda), on, off
    tf32: str = "default"  # default (torch's), on, off
    threads: int = 0  # intra-op threads (torch.set_num_threads); 0: torch's default


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    """onnxruntime*: extra CUDAExecutionProvider options, e.g. (("cudnn_conv_algo_search", "HEURISTIC"),)."""

    cuda_options: tuple[tuple[str, str], ...] = ()
    threads: int = 0  # SessionOptions.intra_op_num_threads; 0: ONNX Runtime's default


@dataclass(frozen=True)
class TensorRTOptions:
    """tensorrt, onnxruntime-trt, torch-tensorrt: the builder's knobs (None: the library's default)."""

    workspace_mib: int | None = None
    opt_level: int | None = None
    aux_streams: int | None = None
    cuda_graph: bool = False
    profile: str = "sweep"  # sweep | cell (engine_cache.ShapeProfile)
    max_batch: int = 0  # largest batch of the sweep profile; 0: the cell's own batch


# the ini keys / flags (infperf_<name>) each field comes from, for `BackendOptions.flat`; one key may set a field of
# several families (threads: torch's and ONNX Runtime's intra-op threads)
_FLAT: dict[str, tuple[tuple[str, str], ...]] = {
    "channels_last": (("torch", "channels_last"),), "tf32": (("torch", "tf32"),),
    "ort_cuda_options": (("onnxruntime", "cuda_options"),),
    "threads": (("torch", "threads"), ("onnxruntime", "threads")),
    "trt_workspace_mib": (("tensorrt", "workspace_mib"),), "trt_opt_level": (("tensorrt", "opt_level"),),
    "trt_aux_streams": (("tensorrt", "aux_streams"),), "trt_cuda_graph": (("tensorrt", "cuda_graph"),),
    "trt_profile": (("tensorrt", "profile"),), "trt_max_batch": (("tensorrt", "max_batch"),),
}


@dataclass(frozen=True)
class BackendOptions:
    """Every family's options, recorded with the session; `make_backend` hands each backend the whole bundle and the
    backend keeps its family's part."""

    torch: TorchOptions = field(default_factory=TorchOptions)
    onnxruntime: OnnxRuntimeOptions = field(default_factory=OnnxRuntimeOptions)
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)

    @classmethod
    def flat(cls, **values: object) -> BackendOptions:
        """From the ini keys' names (``trt_workspace_mib=1024``, ``channels_last="off"``, ...)."""
        unknown = sorted(set(values) - set(_FLAT))
        if unknown:
            raise TypeError(f"unknown backend options {unknown}; known: {sorted(_FLAT)}")
        parts: dict[str, dict[str, object]] = {"torch": {}, "onnxruntime": {}, "tensorrt": {}}
        for name, value in values.items():
            for family, key in _FLAT[name]:
                parts[family][key] = value
        return cls(TorchOptions(**parts["torch"]), OnnxRuntimeOptions(**parts["onnxruntime"]),  # type: ignore[arg-type]
                   TensorRTOptions(**parts["tensorrt"]))  # type: ignore[arg-type]
