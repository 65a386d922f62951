"""Native TensorRT: ONNX -> engine through TensorRT's ONNX parser, run with execute_async_v3 on torch device buffers.

Only the TensorRT calls below are TensorRT's; everything else is shared with backends that have run on real hardware:
the ONNX export and int8 Q/DQ caches (models.py, quantize.py), cache keys, atomic writes, the timing-cache file and
the shape profile (engine_cache.py), device buffers and streams (torch, as NVIDIA's samples with torch tensors do:
``tensor.data_ptr()`` to ``set_tensor_address``, a stream handle to ``execute_async_v3``), CUDA-event timing
(timing.CudaEventTimer) and CUDA-graph capture (torch.cuda.graph). ``TRT_CALLS`` lists every TensorRT call made here
with the version that has it; none of them has run against a real TensorRT yet (docs/tensorrt.md).

A cell's cold start: the export (``export_s``) or Q/DQ quantization (``quantize_s``) on a cache miss, the engine
build on an engine-cache miss (``build_s``), deserialization (``deserialize_s``), the execution context and buffers
(``context_s``) and, with ``infperf_trt_cuda_graph = on``, the capture (``capture_s``). A call: one
``execute_async_v3`` on the session's own (non-default) stream, input and output on the device, or one graph replay.

Precision on TensorRT 10.x (weakly typed network, builder flags, as trtexec --fp16/--bf16/--int8): fp32 sets no
flag (TF32 stays on, TensorRT's default); fp16 and bf16 set FP16/BF16 on the fp32 model, so TensorRT picks the faster
of the reduced precision and fp32 per layer; int8 sets INT8 on the Q/DQ model (explicit quantization), and only
there. TensorRT 11 removed those flags: from 11 on the network is STRONGLY_TYPED and the precision is the model's
(the fp16/bf16 export of the torch model, or the Q/DQ model); no flag is set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu, progress
from ..artifacts.atomic import write_bytes
from ..artifacts.engine_cache import (
    ShapeProfile,
    TimingCacheFile,
    cache_key,
    file_digest,
    gpu_identity,
    input_profiles,
    parse_version,
    slug,
    version_text,
    write_key_file,
)
from ..artifacts.quantize import calibration_feeds
from ..inputs import Inputs, dynamic_axes
from ..measure.timing import BlockTimer, CudaEventTimer, SyncedClockTimer
from .base import import_library

if TYPE_CHECKING:
    import numpy as np

    from ..artifacts.models import ModelSource
    from ..matrix import Case
    from .options import BackendOptions

MIN_VERSION = (10, 0)
STRONGLY_TYPED_FROM = (11, 0)  # TensorRT 11 removed BuilderFlag.FP16/BF16/INT8 (weak typing)
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
WEAK_FLAGS = {"fp32": (), "fp16": ("FP16",), "bf16": ("BF16",), "int8": ("INT8",)}
INSTALL = ("pip install tensorrt-cu12 (tensorrt-cu13 on CUDA 13; NVIDIA's wheels, index https://pypi.nvidia.com), "
           "or run in an NGC TensorRT container")

# Every TensorRT Python call this backend makes and the release whose Python API has it (the release notes' "added
# in"; "8.0" means "8.0 or earlier"). The backend needs MIN_VERSION: create_network(0) is an explicit-batch network
# only from 10.0 on (implicit batch was removed there), and BF16 needs 9.0.
TRT_CALLS: tuple[tuple[str, str], ...] = (
    ("trt.__version__", "8.0"),
    ("trt.Logger(trt.Logger.WARNING)", "8.0"),
    ("trt.Builder(logger)", "8.0"),
    ("Builder.create_network(0) (explicit batch by default)", "10.0"),
    ("Builder.create_network(1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)) (TensorRT >= 11)", "9.0"),
    ("trt.OnnxParser(network, logger)", "8.0"),
    ("OnnxParser.parse_from_file(path), .num_errors, .get_error(i)", "8.0"),
    ("INetworkDefinition.num_inputs, .get_input(i).name", "8.0"),
    ("Builder.create_builder_config()", "8.0"),
    ("IBuilderConfig.set_memory_pool_limit(MemoryPoolType.WORKSPACE, bytes)", "8.4"),
    ("IBuilderConfig.builder_optimization_level = n", "8.6"),
    ("IBuilderConfig.max_aux_streams = n", "8.6"),
    ("IBuilderConfig.set_flag(BuilderFlag.FP16 / BuilderFlag.INT8) (TensorRT 10.x)", "8.0"),
    ("IBuilderConfig.set_flag(BuilderFlag.BF16) (TensorRT 10.x)", "9.0"),
    ("Builder.create_optimization_profile(), IOptimizationProfile.set_shape(name, min, opt, max)", "8.0"),
    ("IBuilderConfig.add_optimization_profile(profile)", "8.0"),
    ("IBuilderConfig.create_timing_cache(blob), .set_timing_cache(cache, ignore_mismatch=False)", "8.0"),
    ("ITimingCache.serialize()", "8.0"),
    ("Builder.build_serialized_network(network, config)", "8.0"),
    ("trt.Runtime(logger), Runtime.deserialize_cuda_engine(plan)", "8.0"),
    ("ICudaEngine.create_execution_context()", "8.0"),
    ("ICudaEngine.num_io_tensors, .get_tensor_name(i), .get_tensor_mode(name), .get_tensor_dtype(name)", "8.5"),
    ("ICudaEngine.num_aux_streams", "8.6"),
    ("IExecutionContext.set_input_shape(name, shape), .get_tensor_shape(name)", "8.5"),
    ("IExecutionContext.set_tensor_address(name, ptr)", "8.5"),
    ("IExecutionContext.execute_async_v3(stream_handle)", "8.5"),
)

_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "INT32": "int32",
                 "INT64": "int64", "BOOL": "bool", "UINT8": "uint8"}


def version_reason(cell_id: str, version: str) -> str | None:
    """Why this TensorRT cannot run the backend, with the fix; None when it can."""
    parsed = parse_version(version)
    if parsed < MIN_VERSION:
        newer = [call for call, since in TRT_CALLS if parse_version(since) > parsed]
        return (f"{cell_id}: tensorrt {version} is installed; this backend is written against the TensorRT "
                f"{version_text(MIN_VERSION)} Python API ({'; '.join(newer)}); pip install -U 'tensorrt-cu12>=10'")
    return None


def import_tensorrt(cell_id: str) -> Any:
    """The tensorrt module, or an error naming the install command or the version this backend needs."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError(f"{cell_id}: TensorRT is not installed; {INSTALL}") from exc
    reason = version_reason(cell_id, trt.__version__)
    if reason:
        raise RuntimeError(reason)
    return trt


def strongly_typed(version: str) -> bool:
    return parse_version(version) >= STRONGLY_TYPED_FROM


@dataclass(frozen=True)
class BuildPlan:
    """Everything an engine build depends on; all of it (plus GPU and TensorRT version) is in the engine's key."""

    onnx_path: Path
    model_digest: str
    profile: ShapeProfile
    precision: str
    strongly_typed: bool
    flags: tuple[str, ...]
    workspace_mib: int | None
    opt_level: int | None
    aux_streams: int | None
    inputs: tuple[tuple[str, ShapeProfile], ...] = ()  # several inputs (inputs=): a profile per input, by name

    def profiles(self) -> dict[str, Any]:
        """The shape profile as recorded in the cell's details and the engine key: one input's (min/opt/max), or
        each named input's."""
        if self.inputs:
            return {name: profile.as_dict() for name, profile in self.inputs}
        return self.profile.as_dict()

    def key_parts(self, gpu_id: dict[str, str], tensorrt_version: str) -> dict[str, Any]:
        parts = {k: v for k, v in asdict(self).items() if k not in ("onnx_path", "profile", "inputs")}
        return {"kind": "tensorrt-engine", **parts, "profile": self.profiles(), "gpu": gpu_id,
                "tensorrt": tensorrt_version}


def build_serialized_engine(trt: Any, logger: Any, plan: BuildPlan, timing: TimingCacheFile) -> tuple[bytes, dict]:
    """ONNX -> serialized engine. Raises with TensorRT's reason (its log has the details) when a step fails."""
    if "INT8" in plan.flags:
        from ..artifacts.quantize import has_qdq

        if not has_qdq(plan.onnx_path):  # without Q/DQ (or a calibrator) INT8 would quietly build an fp32 engine
            raise RuntimeError(f"{plan.onnx_path.name}: the INT8 flag needs a Q/DQ model; this one has no "
                               "QuantizeLinear/DequantizeLinear nodes")
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT's ONNX parser rejected {plan.onnx_path.name}: {errors}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    wanted = [name for name, _ in plan.inputs] or names[:1]
    if sorted(names) != sorted(wanted):
        raise RuntimeError(f"{plan.onnx_path.name} has inputs {names}; the cell feeds {wanted}")
    input_name = ", ".join(names)
    config = builder.create_builder_config()
    if plan.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_mib << 20)
    if plan.opt_level is not None:
        config.builder_optimization_level = plan.opt_level
    if plan.aux_streams is not None:
        config.max_aux_streams = plan.aux_streams
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    for name, shapes in plan.inputs or ((names[0], plan.profile),):
        profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
    if config.add_optimization_profile(profile) < 0:
        raise RuntimeError(f"TensorRT rejected the optimization profile {plan.profiles()} for {input_name!r}")
    blob = timing.load()
    cache = config.create_timing_cache(blob) if blob else None
    timing_state = "new"
    if cache is not None:
        timing_state = "loaded" if config.set_timing_cache(cache, ignore_mismatch=False) else "rejected (new)"
    elif blob:
        timing_state = "unreadable (new)"
    if timing_state != "loaded":  # none yet, or from another device or version: start an empty one
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    progress.report("building the TensorRT engine (cached afterwards)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {plan.onnx_path.name} "
                           f"(precision {plan.precision}, workspace {plan.workspace_mib or 'default'} MiB, profile "
                           f"{plan.profiles()}); TensorRT's log above says why")
    timing.save(memoryview(cache.serialize()).tobytes())  # the build added its measurements to the cache
    info = {"timing_cache": timing_state, "input": input_name}
    return memoryview(serialized).tobytes(), info


class _StreamEventTimer:
    """CUDA events around a block on the session's own stream (the stream its work is enqueued on)."""

    def __init__(self, stream: Any) -> None:
        self._inner = CudaEventTimer()
        self._stream = stream
        self.host_enqueue = self._inner.host_enqueue

    def time_block(self, fn: Any, n: int) -> float:
        import torch

        with torch.cuda.stream(self._stream):
            return self._inner.time_block(fn, n)


class TensorRTSession:
    """An engine's execution context with its buffers bound on one device and stream. ``synchronize`` waits for this
    session's stream only, so concurrent users (one session each) do not wait for each other."""

    def __init__(self, run: Any, out: Any, stream: Any, device: str, details: dict, phases: dict, keep: Any) -> None:
        import torch

        self._torch = torch
        self._run = run
        self._out = out
        self._stream = stream
        self._device = device
        self._keep = keep  # runtime, engine, context, buffers, graph: alive as long as the session
        self.details = details
        self.phases = phases

    def run(self) -> object:
        return self._run()

    def synchronize(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()

    def block_timer(self) -> BlockTimer:
        if self._device == "cuda":
            return _StreamEventTimer(self._stream)
        return SyncedClockTimer(sync=self.synchronize)

    def output(self) -> np.ndarray | list[np.ndarray]:
        self.synchronize()
        if isinstance(self._out, list):  # several outputs, in the engine's (the ONNX export's) order
            return [t.detach().float().cpu().numpy() for t in self._out]
        return self._out.detach().float().cpu().numpy()

    def close(self) -> None:
        if self._run is None:
            return
        self.synchronize()
        keep, self._keep = list(self._keep), None
        self._run = self._out = None  # the closures hold the context and graph too
        while keep:  # graph, context, engine, runtime, then the buffers they pointed at: in that order
            keep.pop(0)
        self._stream = None
        if self._device == "cuda":
            self._torch.cuda.empty_cache()

    def __enter__(self) -> TensorRTSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TensorRTBackend:
    name = "tensorrt"
    supports_inputs = True  # several / integer inputs (inputs.py): an optimization profile per input

    def __init__(self, options: BackendOptions | None = None) -> None:
        from .options import BackendOptions

        self.options = (options or BackendOptions()).tensorrt

    def unavailable_reason(self, case: Case, source: ModelSource) -> str | None:
        try:
            import tensorrt as trt
        except ImportError:
            return f"{case.id}: TensorRT is not installed; {INSTALL}"
        reason = version_reason(case.id, trt.__version__)
        if reason:
            return reason
        if case.precision not in PRECISIONS:
            return f"{case.id}: {self.name} has no {case.precision} path; use {', '.join(PRECISIONS)}"
        if case.device != "cuda":
            return f"{case.id}: TensorRT runs on NVIDIA GPUs only; select --infperf-devices=cuda"
        reason = gpu.cuda_unavailable_reason(case.id)
        if reason:
            return reason
        if strongly_typed(trt.__version__) and case.precision in ("fp16", "bf16") and source.onnx_file is not None:
            return (f"{case.id}: TensorRT {trt.__version__} builds strongly typed networks only, so {case.precision} "
                    f"needs a {case.precision} model; {source.name!r} is a given fp32 ONNX file; use fp32 or int8, "
                    "or a torch model (exported in each precision)")
        if case.precision == "int8":
            try:
                import onnx  # noqa: F401
                import onnxruntime.quantization  # noqa: F401
            except ImportError:
                return (f"{case.id}: the int8 Q/DQ model is made with ONNX Runtime's quantizer; "
                        "pip install onnxruntime onnx")
        return None

    def prepare(self, source: ModelSource) -> None:
        import_library("tensorrt")
        if source.onnx_file is None:
            source.torch_module()  # the export is cold start; building the module is not

    def _model_path(self, case: Case, source: ModelSource, cache_dir: Path, strong: bool,
                    phases: dict[str, float], inputs: Any = None) -> Path:
        named: dict[str, Any] = {}
        if isinstance(inputs, Inputs) and case.inputs is not None:  # one export with every input, dynamic dims
            named = dict(inputs=inputs, signature=case.inputs.signature(dict(case.dims)),
                         dynamic=dynamic_axes(case.inputs, inputs))
        if case.precision == "int8":
            feeds = calibration_feeds(case.inputs, dict(case.dims), source.seed) if named else None
            path, spent = source.int8_onnx_path(case.input_shape, cache_dir, feeds=feeds, **named)
            phases.update(spent)
            return path
        precision = case.precision if strong else "fp32"  # weak typing: flags on the fp32 model
        start = time.perf_counter()
        path, exported = source.onnx_path(case.input_shape, precision, cache_dir, **named)
        if exported:
            phases["export_s"] = time.perf_counter() - start
        return path

    def plan(self, case: Case, model_path: Path, tensorrt_version: str, inputs: Any = None) -> BuildPlan:
        strong = strongly_typed(tensorrt_version)
        opts = self.options
        per_input: tuple[tuple[str, ShapeProfile], ...] = ()
        if isinstance(inputs, Inputs) and case.inputs is not None:
            per_input = input_profiles(case, inputs, opts.max_batch, opts.profile)
        return BuildPlan(
            onnx_path=model_path,
            model_digest=file_digest(model_path),
            profile=ShapeProfile.for_cell(case.input_shape, case.batch, opts.max_batch, opts.profile),
            precision=case.precision,
            strongly_typed=strong,
            flags=() if strong else WEAK_FLAGS[case.precision],
            workspace_mib=opts.workspace_mib,
            opt_level=opts.opt_level,
            aux_streams=opts.aux_streams,
            inputs=per_input,
        )

    def load(self, case: Case, source: ModelSource, inputs: np.ndarray, cache_dir: Path) -> TensorRTSession:
        trt = import_tensorrt(case.id)
        version = trt.__version__
        phases: dict[str, float] = {}
        model_path = self._model_path(case, source, cache_dir, strongly_typed(version), phases, inputs)
        plan = self.plan(case, model_path, version, inputs)
        gpu_id = gpu_identity(case.device)
        folder = cache_dir / "infperf-trt"
        parts = plan.key_parts(gpu_id, version)
        engine_path = folder / f"{cache_key(parts)}-{slug(source.name)}-{case.precision}.engine"
        details: dict[str, object] = {
            "tensorrt": version, "profile": plan.profiles(), "typing": "strong" if plan.strongly_typed
            else "weak", "builder_flags": list(plan.flags), "workspace_mib": plan.workspace_mib,
            "opt_level": plan.opt_level, "aux_streams_max": plan.aux_streams, "model": model_path.name,
        }
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        engine = None
        if engine_path.is_file():
            start = time.perf_counter()
            engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
            phases["deserialize_s"] = time.perf_counter() - start
            details["engine_cache"] = "hit" if engine is not None else "unreadable (rebuilt)"
        if engine is None:
            start = time.perf_counter()
            blob, info = build_serialized_engine(trt, logger, plan, TimingCacheFile(folder, gpu_id, version))
            phases["build_s"] = time.perf_counter() - start
            write_bytes(engine_path, blob)
            write_key_file(engine_path.with_suffix(".json"), parts)
            details.setdefault("engine_cache", "miss (built)")
            details.update(info)
            start = time.perf_counter()
            engine = runtime.deserialize_cuda_engine(blob)
            phases["deserialize_s"] = time.perf_counter() - start
            if engine is None:
                raise RuntimeError(f"{case.id}: TensorRT built an engine it cannot deserialize; see TensorRT's log")
        details["aux_streams_used"] = int(engine.num_aux_streams)
        details["engine_file"] = engine_path.name
        start = time.perf_counter()
        session = self._session(trt, case, runtime, engine, inputs, details, phases)
        phases["context_s"] = time.perf_counter() - start - phases.get("capture_s", 0.0)
        return session

    def _session(self, trt: Any, case: Case, runtime: Any, engine: Any, inputs: Any, details: dict,
                 phases: dict) -> TensorRTSession:
        import torch

        device = torch.device(case.device)
        context = engine.create_execution_context()
        if context is None:
            raise RuntimeError(f"{case.id}: TensorRT could not create an execution context (device memory?)")
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        arrays = dict(inputs.arrays) if isinstance(inputs, Inputs) else None
        if not outs or (arrays is None and len(ins) != 1) or (arrays is not None and sorted(ins) != sorted(arrays)):
            fed = list(arrays) if arrays is not None else ["one input"]
            raise RuntimeError(f"{case.id}: the engine has inputs {ins} and outputs {outs}; the cell feeds {fed}")
        feeds = arrays if arrays is not None else {ins[0]: inputs}
        buffers = {}
        for name in ins:
            value = feeds[name]
            if not context.set_input_shape(name, tuple(value.shape)):
                raise RuntimeError(f"{case.id}: input {name!r} of shape {tuple(value.shape)} is outside the engine's "
                                   f"profile {details['profile']}")
            x = torch.from_numpy(value).to(device=device, dtype=_torch_dtype(torch, engine.get_tensor_dtype(name)))
            buffers[name] = x.contiguous()
        for name in outs:
            shape = tuple(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise RuntimeError(f"{case.id}: output {name!r} has no static shape {shape} after the input shape")
            buffers[name] = torch.empty(shape, dtype=_torch_dtype(torch, engine.get_tensor_dtype(name)), device=device)
        for name, tensor in buffers.items():
            if not context.set_tensor_address(name, tensor.data_ptr()):
                raise RuntimeError(f"{case.id}: TensorRT rejected the address of tensor {name!r}")
        out: Any = buffers[outs[0]] if len(outs) == 1 else [buffers[name] for name in outs]
        stream = torch.cuda.Stream(device=device) if case.device == "cuda" else None
        handle = stream.cuda_stream if stream is not None else 0
        if case.device == "cuda":
            torch.cuda.synchronize()  # inputs copied on the current stream are complete before our stream reads them

        def enqueue() -> Any:
            if not context.execute_async_v3(handle):
                raise RuntimeError(f"{case.id}: execute_async_v3 failed; TensorRT's log says why")
            return out

        run = enqueue
        graph = None
        details["cuda_graph"] = bool(self.options.cuda_graph)
        if self.options.cuda_graph:
            if stream is None:
                raise RuntimeError(f"{case.id}: CUDA-graph replay needs cuda")
            start = time.perf_counter()
            enqueue()  # TensorRT: one enqueue before capture, so shape-dependent setup is not captured
            stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=stream):
                enqueue()
            phases["capture_s"] = time.perf_counter() - start

            def run() -> Any:
                with torch.cuda.stream(stream):
                    graph.replay()
                return out

        details["io"] = "device"
        details["io_dtypes"] = {n: str(t.dtype).removeprefix("torch.") for n, t in buffers.items()}
        keep = (graph, context, engine, runtime, buffers)
        return TensorRTSession(run, out, stream, case.device, details, phases, keep)

    def versions(self) -> dict[str, str]:
        import torch

        out = {"torch": torch.__version__}
        try:
            import tensorrt as trt

            out["tensorrt"] = trt.__version__
        except ImportError:
            pass
        if torch.version.cuda:
            out["torch_cuda"] = str(torch.version.cuda)
        return out


def _torch_dtype(torch: Any, trt_dtype: Any) -> Any:
    name = getattr(trt_dtype, "name", str(trt_dtype).rsplit(".", 1)[-1])
    if name not in _TORCH_DTYPES:
        raise RuntimeError(f"TensorRT tensor type {name} has no torch buffer type here")
    return getattr(torch, _TORCH_DTYPES[name])
