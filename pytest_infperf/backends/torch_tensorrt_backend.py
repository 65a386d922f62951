"""torch-tensorrt (``torch-tensorrt``): the torch model compiled by ``torch_tensorrt.compile(ir="dynamo")`` for the
cell's precision and input shape, saved and loaded as an ExportedProgram.

Engine caching is this plugin's: the compiled program is saved with ``torch_tensorrt.save`` into a cache keyed by the
model's weights digest, the cell's input shape, precision and builder options, the GPU and the torch, torch-tensorrt
and TensorRT versions; a rerun loads it (``torch.export.load``) instead of compiling. torch-tensorrt's own engine
cache (``cache_built_engines``/``reuse_cached_engines``) stays off: it hashes the graph with the weights stripped and
refits them on a hit, which needs refittable engines, and a refittable engine is not the engine a deployment runs.
Both a miss and a hit run the program loaded from disk, so the two measure the same thing.

Cold start: compile (``build_s``), save (``save_s``) on a miss, load (``deserialize_s``). The session and timing are
the torch backend's (TorchSession, CUDA events). None of this has run on real hardware yet.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu, progress
from ..artifacts import atomic
from ..artifacts.engine_cache import cache_key, gpu_identity, parse_version, slug, write_key_file
from .torch_backend import TorchSession

if TYPE_CHECKING:
    import numpy as np

    from ..artifacts.models import ModelSource
    from ..matrix import Case
    from .options import BackendOptions

MIN_VERSION = (2, 5)  # torch_tensorrt.save(arg_inputs=...), compile(timing_cache_path=..., cache_built_engines=...)
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
INSTALL = "pip install torch-tensorrt (the release built for your torch version)"
# The torch-tensorrt calls made here, with the release that has them.
TORCH_TRT_CALLS: tuple[tuple[str, str], ...] = (
    ("torch_tensorrt.Input(shape=..., dtype=...)", "1.0"),
    ("torch_tensorrt.compile(module, ir='dynamo', inputs=[Input], enabled_precisions={dtype}, ...)", "2.1"),
    ("compile(..., workspace_size=, optimization_level=, max_aux_streams=)", "2.1"),
    ("compile(..., timing_cache_path=, cache_built_engines=False, reuse_cached_engines=False)", "2.5"),
    ("torch_tensorrt.save(module, path, output_format='exported_program', arg_inputs=[x])", "2.5"),
    ("torch.export.load(path).module() (torch)", "torch 2.1"),
)


class TorchTensorRTBackend:
    name = "torch-tensorrt"

    def __init__(self, options: BackendOptions | None = None) -> None:
        from .options import BackendOptions

        self.options = (options or BackendOptions()).tensorrt

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import torch_tensorrt
        except ImportError:
            return f"{case.id}: torch-tensorrt is not installed; {INSTALL}"
        version = str(getattr(torch_tensorrt, "__version__", "0"))
        if parse_version(version) < MIN_VERSION:
            return (f"{case.id}: torch-tensorrt {version} is installed; this backend needs >= "
                    f"{'.'.join(map(str, MIN_VERSION))} ({TORCH_TRT_CALLS[3][0]}; {TORCH_TRT_CALLS[4][0]}); "
                    "pip install -U torch-tensorrt")
        if not source.is_torch:
            return f"{case.id}: model {source.name!r} is an ONNX file; torch-tensorrt compiles torch models"
        if case.precision not in PRECISIONS:
            return (f"{case.id}: torch-tensorrt int8 needs a model quantized with NVIDIA ModelOpt; not wired here; "
                    "use the tensorrt or onnxruntime-trt backend for int8 (Q/DQ)")
        if case.device != "cuda":
            return f"{case.id}: torch-tensorrt runs on NVIDIA GPUs only; select --infperf-devices=cuda"
        return gpu.cuda_unavailable_reason(case.id)

    def prepare(self, source: ModelSource) -> None:
        source.torch_module()

    def compile_kwargs(self, cache_dir: Path, gpu_id: dict[str, str], trt_version: str) -> dict[str, Any]:
        opts = self.options
        timing = cache_dir / "infperf-torch-trt" / f"timing-{cache_key({'gpu': gpu_id, 'tensorrt': trt_version})}.bin"
        kwargs: dict[str, Any] = {
            "timing_cache_path": str(timing),
            "cache_built_engines": False,
            "reuse_cached_engines": False,
        }
        if opts.workspace_mib is not None:
            kwargs["workspace_size"] = opts.workspace_mib << 20
        if opts.opt_level is not None:
            kwargs["optimization_level"] = opts.opt_level
        if opts.aux_streams is not None:
            kwargs["max_aux_streams"] = opts.aux_streams
        return kwargs

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TorchSession:
        import torch
        import torch_tensorrt

        dtype = getattr(torch, PRECISIONS[case.precision])
        device = torch.device(case.device)
        x = torch.from_numpy(inputs).to(device=device, dtype=dtype)
        trt_version = _tensorrt_version()
        gpu_id = gpu_identity(case.device)
        opts = self.options
        parts = {
            "kind": "torch-tensorrt-program", "weights": source.weights_digest(), "input": list(case.batch_shape),
            "precision": case.precision, "workspace_mib": opts.workspace_mib, "opt_level": opts.opt_level,
            "aux_streams": opts.aux_streams, "gpu": gpu_id, "torch": torch.__version__,
            "torch_tensorrt": str(torch_tensorrt.__version__), "tensorrt": trt_version,
        }
        path = cache_dir / "infperf-torch-trt" / f"{cache_key(parts)}-{slug(source.name)}-{case.precision}.ep"
        phases: dict[str, float] = {}
        details: dict[str, object] = {"input_shape": list(case.batch_shape), "enabled_precisions": [case.precision],
                                      "workspace_mib": opts.workspace_mib, "opt_level": opts.opt_level,
                                      "aux_streams_max": opts.aux_streams, "tensorrt": trt_version,
                                      "program_cache": "hit" if path.is_file() else "miss (compiled)"}
        if not path.is_file():
            model = copy.deepcopy(source.torch_module()).to(device=device, dtype=dtype).eval()
            start = time.perf_counter()
            progress.report("compiling with torch_tensorrt (dynamo; cached afterwards)")
            with torch.inference_mode(False), torch.no_grad():
                compiled = torch_tensorrt.compile(
                    model, ir="dynamo", inputs=[torch_tensorrt.Input(shape=tuple(x.shape), dtype=dtype)],
                    enabled_precisions={dtype}, **self.compile_kwargs(cache_dir, gpu_id, trt_version),
                )
            phases["build_s"] = time.perf_counter() - start
            start = time.perf_counter()
            with atomic.replacing(path, suffix=".ep") as tmp:
                torch_tensorrt.save(compiled, str(tmp), output_format="exported_program", arg_inputs=[x])
            write_key_file(path.with_suffix(".json"), parts)
            phases["save_s"] = time.perf_counter() - start
            del compiled, model
        start = time.perf_counter()
        module = torch.export.load(str(path)).module()
        phases["deserialize_s"] = time.perf_counter() - start
        details["program_file"] = path.name
        if case.device == "cuda" and case.concurrency > 1:  # each concurrent user on its own stream
            session = TorchSession(module, x, case.device, details, stream=torch.cuda.Stream())
        else:
            session = TorchSession(module, x, case.device, details)
        session.phases = phases
        return session

    def versions(self) -> dict[str, str]:
        import torch

        out = {"torch": torch.__version__, "tensorrt": _tensorrt_version()}
        try:
            import torch_tensorrt

            out["torch_tensorrt"] = str(torch_tensorrt.__version__)
        except ImportError:
            pass
        return out


def _tensorrt_version() -> str:
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except ImportError:
        return "unknown"
