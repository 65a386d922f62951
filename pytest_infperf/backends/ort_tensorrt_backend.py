"""ONNX Runtime with the TensorRT execution provider (``onnxruntime-trt``).

Everything but the provider and its options is the ``onnxruntime`` backend's (subclassed, not copied): the export and
Q/DQ model caches, session creation, IO binding with device-resident input and output, timing. The TensorRT EP gets:

- precision: fp32 runs the fp32 model; fp16 sets ``trt_fp16_enable`` on the fp32 model (mixed precision, as
  trtexec --fp16); int8 sets ``trt_int8_enable`` on the Q/DQ model (explicit quantization; no calibration table).
- an explicit profile (``trt_profile_min/opt/max_shapes``, engine_cache.ShapeProfile), so every batch of the sweep
  runs on one engine and the EP never rebuilds when the batch changes;
- engine and timing caches (``trt_engine_cache_enable/path``, ``trt_timing_cache_enable/path``) in folders this
  plugin manages: one engine folder per model digest, precision, profile, builder options, GPU, TensorRT and ONNX
  Runtime version (ORT itself does not notice a TensorRT or GPU change), one timing-cache folder per GPU and TensorRT;
- ``trt_max_workspace_size``, ``trt_builder_optimization_level``, ``trt_auxiliary_streams`` and
  ``trt_cuda_graph_enable`` from the cell options.

The engine is built while the session is created: session creation (``session_s``) is the cold start, and
``details["engine_cache"]`` says whether it was a build or a cached engine. A session that falls back to the CUDA or
CPU provider is an error, never a silently different measurement. None of this has run on real hardware yet.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu
from ..artifacts.engine_cache import (
    ShapeProfile,
    cache_key,
    file_digest,
    gpu_identity,
    input_profiles,
    ort_profile_options,
    parse_version,
    slug,
    write_key_file,
)
from .onnxruntime_backend import OnnxRuntimeBackend, _preload_cuda_libraries
from .options import BackendOptions

if TYPE_CHECKING:
    from ..artifacts.models import ModelSource
    from ..matrix import Case

MIN_ORT = (1, 18)  # the first ONNX Runtime built against TensorRT 10, with all the options used here
PRECISIONS = ("fp32", "fp16", "int8")
PROVIDER = "TensorrtExecutionProvider"
INSTALL = "pip install onnxruntime-gpu tensorrt-cu12 (TensorRT's libraries are loaded by the EP at run time)"
# ONNX Runtime's TensorRT EP options used here, with the ONNX Runtime release that has them (docs and
# tensorrt_execution_provider_info.cc); every one of them is at least as old as MIN_ORT.
ORT_TRT_OPTIONS_USED: tuple[tuple[str, str], ...] = (
    ("trt_fp16_enable", "1.2"), ("trt_int8_enable", "1.2"), ("trt_max_workspace_size", "1.2"),
    ("trt_engine_cache_enable", "1.5"), ("trt_engine_cache_path", "1.5"), ("trt_timing_cache_enable", "1.14"),
    ("trt_timing_cache_path", "1.16"), ("trt_builder_optimization_level", "1.15"), ("trt_auxiliary_streams", "1.15"),
    ("trt_profile_min_shapes", "1.15"), ("trt_profile_opt_shapes", "1.15"), ("trt_profile_max_shapes", "1.15"),
    ("trt_cuda_graph_enable", "1.16"),
)
_TRT_DISTRIBUTIONS = ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu12-libs", "tensorrt-cu13-libs",
                      "tensorrt-libs")
_LIBNVINFER = ("libnvinfer.so.10", "libnvinfer.so.11", "nvinfer_10.dll", "nvinfer_11.dll")


def tensorrt_libraries() -> tuple[bool, str]:
    """Whether TensorRT's runtime library can be loaded (the EP dlopens it), and its version where known.

    Importing the ``tensorrt`` wheel loads libnvinfer into the process, so the EP's dlopen by soname finds it even
    though the wheel's folder is not on the library path."""
    version = "unknown"
    for dist in _TRT_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(dist)
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import tensorrt

        return True, str(getattr(tensorrt, "__version__", version))
    except ImportError:
        pass
    for name in _LIBNVINFER:
        try:
            ctypes.CDLL(name)
            return True, version
        except OSError:
            continue
    return False, version


class OnnxRuntimeTensorRTBackend(OnnxRuntimeBackend):
    name = "onnxruntime-trt"
    supports_inputs = True  # several / integer inputs (inputs.py): a TensorRT profile per input
    io_binding = True
    cuda_graph = False
    provider_hint = "TensorRT's libraries or the model's ops; see ONNX Runtime's log above"

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)  # ONNX Runtime's own options: the CUDA provider behind the TensorRT one
        self.trt = (options or BackendOptions()).tensorrt

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import onnxruntime
        except ImportError:
            return f"{case.id}: onnxruntime is not installed; {INSTALL}"
        if parse_version(onnxruntime.__version__) < MIN_ORT:
            return (f"{case.id}: onnxruntime {onnxruntime.__version__} is installed; the TensorRT EP options used "
                    f"here need onnxruntime-gpu >= {'.'.join(map(str, MIN_ORT))} (TensorRT 10); "
                    "pip install -U onnxruntime-gpu")
        if case.precision not in PRECISIONS:
            return (f"{case.id}: {self.name} measures fp32, fp16 (trt_fp16_enable) and int8 (trt_int8_enable on the "
                    f"Q/DQ model); {case.precision} is not wired")
        if case.device != "cuda":
            return f"{case.id}: the TensorRT EP runs on NVIDIA GPUs only; select --infperf-devices=cuda"
        providers = onnxruntime.get_available_providers()
        if PROVIDER not in providers:
            return (f"{case.id}: this onnxruntime has no {PROVIDER} (providers: {', '.join(providers)}); "
                    f"pip uninstall onnxruntime && {INSTALL}")
        if "CUDAExecutionProvider" not in providers:
            return f"{case.id}: this onnxruntime has no CUDAExecutionProvider; {INSTALL}"
        reason = gpu.cuda_unavailable_reason(case.id)
        if reason:
            return reason
        found, _ = tensorrt_libraries()
        if not found:
            return (f"{case.id}: onnxruntime lists the {PROVIDER}, but TensorRT's libraries (libnvinfer) are not "
                    f"installed; {INSTALL}")
        if case.precision == "int8":
            try:
                import onnx  # noqa: F401
            except ImportError:
                return f"{case.id}: int8 quantization needs onnx; pip install onnx"
        return None

    def _model_path(self, case: Case, source: ModelSource, cache_dir: Path, phases: dict[str, float],
                    inputs: Any = None) -> Path:
        if case.precision == "fp16":  # the fp16 flag on the fp32 model: TensorRT picks the precision per layer
            return super()._model_path(dataclasses.replace(case, precision="fp32"), source, cache_dir, phases, inputs)
        return super()._model_path(case, source, cache_dir, phases, inputs)

    def trt_options(self, case: Case, path: Path, cache_dir: Path, input_name: str,
                    inputs: Any = None) -> tuple[dict[str, str], dict]:
        """The TensorRT EP's options for this cell (all values strings, as ONNX Runtime receives them) and what they
        were keyed by. Several inputs (``inputs``: `inputs.Inputs`): a profile per input."""
        import onnxruntime

        from ..inputs import Inputs

        opts = self.trt
        named = isinstance(inputs, Inputs) and case.inputs is not None
        if named:
            profiles = input_profiles(case, inputs, opts.max_batch, opts.profile)
        else:
            profiles = ((input_name, ShapeProfile.for_cell(case.input_shape, case.batch, opts.max_batch,
                                                            opts.profile)),)
        shown: Any = {name: p.as_dict() for name, p in profiles} if named else profiles[0][1].as_dict()
        _, trt_version = tensorrt_libraries()
        gpu_id = gpu_identity(case.device)
        builder = {"workspace_mib": opts.workspace_mib, "opt_level": opts.opt_level,
                   "aux_streams": opts.aux_streams}
        parts = {"kind": "ort-tensorrt-engines", "model": file_digest(path), "precision": case.precision,
                 "profile": shown, "builder": builder, "gpu": gpu_id, "tensorrt": trt_version,
                 "onnxruntime": onnxruntime.__version__}
        root = cache_dir / "infperf-ort-trt"
        engines = root / f"{slug(path.stem)}-{case.precision}-{cache_key(parts)}"
        timing = root / f"timing-{cache_key({'gpu': gpu_id, 'tensorrt': trt_version})}"
        engines.mkdir(parents=True, exist_ok=True)
        timing.mkdir(parents=True, exist_ok=True)
        write_key_file(engines / "infperf-key.json", parts)
        options = {
            "trt_fp16_enable": str(case.precision == "fp16"),
            "trt_int8_enable": str(case.precision == "int8"),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(engines),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(timing),
            **ort_profile_options(profiles),
        }
        if opts.workspace_mib is not None:
            options["trt_max_workspace_size"] = str(opts.workspace_mib << 20)
        if opts.opt_level is not None:
            options["trt_builder_optimization_level"] = str(opts.opt_level)
        if opts.aux_streams is not None:
            options["trt_auxiliary_streams"] = str(opts.aux_streams)
        if opts.cuda_graph:
            options["trt_cuda_graph_enable"] = "True"
        return options, {"profile": shown, "engine_folder": engines.name, "tensorrt": trt_version}

    def _providers(self, case: Case, path: Path, cache_dir: Path, details: dict[str, object],
                   inputs: Any = None) -> list[Any]:
        from ..artifacts.quantize import has_qdq, input_name

        if case.precision == "int8":
            if not has_qdq(path):
                raise RuntimeError(f"{case.id}: trt_int8_enable needs a Q/DQ model; {path.name} has none")
        name = "" if case.inputs is not None else input_name(path)
        options, keyed = self.trt_options(case, path, cache_dir, name, inputs)
        engines = cache_dir / "infperf-ort-trt" / str(keyed["engine_folder"])
        cached = any(p.suffix == ".engine" for p in engines.iterdir())
        details.update(keyed)
        details["engine_cache"] = "hit" if cached else "miss (built at session creation)"
        details["cuda_graph"] = bool(self.trt.cuda_graph)
        try:
            import tensorrt  # noqa: F401  # loads libnvinfer from the wheel, so the EP's dlopen finds it
        except ImportError:
            pass
        _preload_cuda_libraries()
        return [(PROVIDER, options), ("CUDAExecutionProvider", self._provider_options())]

    def versions(self) -> dict[str, str]:
        out = super().versions()
        out["tensorrt"] = tensorrt_libraries()[1]
        return out
