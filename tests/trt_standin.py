"""Test doubles at the library boundary for the TensorRT family (no machine here can install TensorRT).

- ``make_tensorrt(version)``: a ``tensorrt`` module with the TensorRT 10.x Python API the tensorrt backend calls:
  Logger, Builder, INetworkDefinition (filled by OnnxParser from the real ONNX file), IBuilderConfig,
  IOptimizationProfile, ITimingCache, IHostMemory, Runtime, ICudaEngine, IExecutionContext. It enforces what real
  TensorRT enforces (argument types, call order, a profile for every dynamic input, shapes inside the profile, no
  precision flags on strongly typed networks, plans only for the version that built them, every I/O address and input
  shape set before execute_async_v3) and records every call. ``version="11.0.0"`` drops the weak-typing builder flags
  as TensorRT 11 did; ``version="8.6.1"`` lets a test see the old-version message. execute_async_v3 really computes:
  it reads the input at the bound address, runs the ONNX model with ONNX Runtime on the CPU and writes the output at
  the bound address, so a wrong binding gives a wrong output that the output check catches.
- ``make_torch_tensorrt(version)``: ``torch_tensorrt`` with Input (``shape=`` or min/opt/max, ``dtype``, ``name``),
  compile (keyword names of the documented ``torch_tensorrt.dynamo.compile``; ``inputs``/``arg_inputs`` and
  ``kwarg_inputs`` with each release's checks: no positional input is refused before 2.10) and save (``arg_inputs``
  tensors and ``kwarg_inputs``; ``retrace`` False by default before 2.10, True from 2.10). compile traces as the real
  ``torch_tensorrt.dynamo.trace`` does, with real ``torch.export`` and the Dims torch-tensorrt derives from the
  Inputs (named '<Input.name>_<axis>', keyed by forward's parameter names), so a trace the real one cannot make fails
  here too; save writes a real ``torch.export`` program, which ``torch.export.load`` reads back.
- ``ORT_TRT_OPTIONS`` / ``check_ort_trt_options``: ONNX Runtime's TensorRT EP option names and value types as its
  provider-option parser (tensorrt_execution_provider_info.cc, onnxruntime_pybind_state.cc) accepts them.

Stricter than the library in one place, and said so: building with the INT8 flag on a network without Q/DQ layers
fails here (real TensorRT warns about missing dynamic ranges and quietly builds without int8).

Installed only by tests (``monkeypatch.setitem(sys.modules, "tensorrt", ...)``); nothing at run time imports this.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.machinery
import json
import re
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAN_MAGIC = "infperf-standin-plan"
CACHE_MAGIC = "infperf-standin-timing-cache"


@dataclass
class Record:
    """What the code under test did to the library."""

    calls: list[tuple[str, tuple]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # what TensorRT would have logged at ERROR
    warnings: list[str] = field(default_factory=list)
    timing_hits: int = 0
    timing_misses: int = 0

    def add(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        self.counts[name] += 1

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise TypeError(f"{what}: expected a sequence of ints (trt.Dims), got {value!r}")
    return tuple(value)


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what}: expected bool, got {type(value).__name__}")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what}: expected int, got {type(value).__name__}")
    return value


_ONNX_TYPES = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8"}
_NUMPY = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64", "BOOL": "bool",
          "UINT8": "uint8"}


def make_tensorrt(version: str = "10.9.0.34", record: Record | None = None) -> types.ModuleType:
    """A fresh stand-in ``tensorrt`` module of the given version; its calls go to ``module.record``."""
    rec = record or Record()
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)  # found, no file: torch._dynamo skips it
    trt.__version__ = version
    trt.record = rec
    trt.builds = 0

    class DataType(enum.Enum):
        FLOAT = 0
        HALF = 1
        INT8 = 2
        INT32 = 3
        BOOL = 4
        UINT8 = 5
        BF16 = 7
        INT64 = 8

    class TensorIOMode(enum.Enum):
        NONE = 0
        INPUT = 1
        OUTPUT = 2

    class MemoryPoolType(enum.Enum):
        WORKSPACE = 0
        DLA_MANAGED_SRAM = 1
        DLA_LOCAL_DRAM = 2
        DLA_GLOBAL_DRAM = 3
        TACTIC_DRAM = 4

    flags = ["TF32", "REFIT", "DEBUG", "GPU_FALLBACK", "SPARSE_WEIGHTS", "STRIP_PLAN"]
    if major < 11:  # TensorRT 11 removed the weak-typing precision flags
        flags = ["FP16", "INT8", "BF16", "FP8", *flags]
    BuilderFlag = enum.IntEnum("BuilderFlag", [(f, i) for i, f in enumerate(flags)])

    creation = [("EXPLICIT_BATCH", 0), ("STRONGLY_TYPED", 1)] if major < 11 else [("STRONGLY_TYPED", 1)]
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", creation)

    class ILogger:
        class Severity(enum.IntEnum):
            INTERNAL_ERROR = 0
            ERROR = 1
            WARNING = 2
            INFO = 3
            VERBOSE = 4

    class Logger(ILogger):
        INTERNAL_ERROR = ILogger.Severity.INTERNAL_ERROR
        ERROR = ILogger.Severity.ERROR
        WARNING = ILogger.Severity.WARNING
        INFO = ILogger.Severity.INFO
        VERBOSE = ILogger.Severity.VERBOSE

        def __init__(self, min_severity: Any = ILogger.Severity.WARNING) -> None:
            if not isinstance(min_severity, ILogger.Severity):
                raise TypeError("Logger(min_severity): expected trt.Logger.Severity")
            rec.add("Logger", min_severity)
            self.min_severity = min_severity

    def _logger(value: Any, what: str) -> None:
        if not isinstance(value, ILogger):
            raise TypeError(f"{what}: expected a trt.ILogger, got {type(value).__name__}")

    def error(message: str) -> None:
        rec.errors.append(message)

    @dataclass
    class ITensor:
        name: str
        shape: tuple[int, ...]
        dtype: Any

    class IHostMemory(bytes):
        @property
        def nbytes(self) -> int:
            return len(self)

    class INetworkDefinition:
        def __init__(self, builder: Any, flags: int) -> None:
            self.builder = builder
            self.flags = flags
            self.inputs: list[ITensor] = []
            self.outputs: list[ITensor] = []
            self.parsed = False
            self.qdq = False
            self.onnx_path = ""

        @property
        def strongly_typed(self) -> bool:
            return bool(self.flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, index: int) -> ITensor:
            return self.inputs[_int(index, "get_input(index)")]

        @property
        def num_outputs(self) -> int:
            return len(self.outputs)

        def get_output(self, index: int) -> ITensor:
            return self.outputs[_int(index, "get_output(index)")]

    class OnnxParser:
        def __init__(self, network: Any, logger: Any) -> None:
            if not isinstance(network, INetworkDefinition):
                raise TypeError("OnnxParser(network, logger): network must come from Builder.create_network")
            _logger(logger, "OnnxParser(network, logger)")
            rec.add("OnnxParser")
            self.network = network
            self.errors: list[str] = []

        def parse_from_file(self, model: Any) -> bool:
            if not isinstance(model, str):
                raise TypeError(f"parse_from_file(model): expected str, got {type(model).__name__}")
            rec.add("OnnxParser.parse_from_file", model)
            import onnx

            try:
                proto = onnx.load(model)
            except Exception as exc:  # noqa: BLE001 - the parser reports, it does not raise
                self.errors.append(f"cannot read {model}: {exc}")
                return False
            initializers = {i.name for i in proto.graph.initializer}
            constants = {i.name: i for i in proto.graph.initializer}
            from onnx import TensorProto, numpy_helper

            for node in proto.graph.node:  # what TensorRT's parser refuses in Q/DQ models
                if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
                    continue
                zero = constants.get(node.input[2]) if len(node.input) > 2 else None
                if zero is not None and numpy_helper.to_array(zero).any():
                    self.errors.append(f"{node.name}: TensorRT supports only zero point 0 (symmetric quantization)")
                source = constants.get(node.input[0])
                if node.op_type == "DequantizeLinear" and source is not None and source.data_type == TensorProto.INT32:
                    self.errors.append(f"{node.name}: only activation types allowed as input to this layer (int32)")
            if self.errors:
                return False

            def tensor(value: Any) -> ITensor:
                tt = value.type.tensor_type
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim)
                return ITensor(value.name, dims, DataType[_ONNX_TYPES[tt.elem_type]])

            net = self.network
            net.inputs = [tensor(v) for v in proto.graph.input if v.name not in initializers]
            net.outputs = [tensor(v) for v in proto.graph.output]
            net.qdq = any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
            net.onnx_path = model
            net.parsed = True
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[_int(index, "get_error(index)")]

    class IOptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:
            if not isinstance(input, str):
                raise TypeError("set_shape(input, min, opt, max): input must be the tensor name (str)")
            lo, mid, hi = _ints(min, "min"), _ints(opt, "opt"), _ints(max, "max")
            rec.add("IOptimizationProfile.set_shape", input, lo, mid, hi)
            if not len(lo) == len(mid) == len(hi):
                raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
            if not all(0 < a <= b <= c for a, b, c in zip(lo, mid, hi, strict=True)):
                raise RuntimeError("Shape provided for opt is inconsistent with other shapes.")
            self.shapes[input] = (lo, mid, hi)

    class ITimingCache:
        def __init__(self, entries: dict[str, float], tag: str) -> None:
            self.entries = entries
            self.tag = tag

        def serialize(self) -> IHostMemory:
            rec.add("ITimingCache.serialize")
            data = {"magic": CACHE_MAGIC, "tag": self.tag, "entries": self.entries}
            return IHostMemory(json.dumps(data).encode())

    class IBuilderConfig:
        def __init__(self, builder: Any) -> None:
            self.builder = builder
            self.pools: dict[Any, int] = {}
            self._opt_level = 3
            self._aux = -1
            self.flag_set: set[Any] = {BuilderFlag.TF32}
            self.profiles: list[IOptimizationProfile] = []
            self.timing_cache: ITimingCache | None = None

        def set_memory_pool_limit(self, pool: Any, pool_size: Any) -> None:
            if not isinstance(pool, MemoryPoolType):
                raise TypeError("set_memory_pool_limit(pool, pool_size): pool must be a trt.MemoryPoolType")
            if _int(pool_size, "pool_size") < 0:
                raise ValueError("pool_size must be >= 0")
            rec.add("IBuilderConfig.set_memory_pool_limit", pool, pool_size)
            self.pools[pool] = pool_size

        @property
        def builder_optimization_level(self) -> int:
            return self._opt_level

        @builder_optimization_level.setter
        def builder_optimization_level(self, value: Any) -> None:
            if not 0 <= _int(value, "builder_optimization_level") <= 5:
                raise ValueError("builder_optimization_level must be in [0, 5]")
            rec.add("IBuilderConfig.builder_optimization_level", value)
            self._opt_level = value

        @property
        def max_aux_streams(self) -> int:
            return self._aux

        @max_aux_streams.setter
        def max_aux_streams(self, value: Any) -> None:
            if _int(value, "max_aux_streams") < 0:
                raise ValueError("max_aux_streams must be >= 0")
            rec.add("IBuilderConfig.max_aux_streams", value)
            self._aux = value

        def set_flag(self, flag: Any) -> None:
            if not isinstance(flag, BuilderFlag):
                raise TypeError("set_flag(flag): flag must be a trt.BuilderFlag")
            rec.add("IBuilderConfig.set_flag", flag.name)
            self.flag_set.add(flag)

        def get_flag(self, flag: Any) -> bool:
            return flag in self.flag_set

        def add_optimization_profile(self, profile: Any) -> int:
            if not isinstance(profile, IOptimizationProfile):
                raise TypeError("add_optimization_profile(profile): expected trt.IOptimizationProfile")
            rec.add("IBuilderConfig.add_optimization_profile")
            if not profile.shapes:
                error("addOptimizationProfile: the profile sets no shapes (invalid profile)")
                return -1
            self.profiles.append(profile)
            return len(self.profiles) - 1

        @property
        def num_optimization_profiles(self) -> int:
            return len(self.profiles)

        def create_timing_cache(self, serialized_timing_cache: Any) -> ITimingCache | None:
            if not isinstance(serialized_timing_cache, (bytes, bytearray, memoryview)):
                raise TypeError("create_timing_cache(serialized_timing_cache): expected a buffer")
            blob = bytes(serialized_timing_cache)
            rec.add("IBuilderConfig.create_timing_cache", len(blob))
            if not blob:
                return ITimingCache({}, version)
            try:
                data = json.loads(blob)
                assert data["magic"] == CACHE_MAGIC
            except Exception:  # noqa: BLE001
                error("createTimingCache: the serialized timing cache is invalid")
                return None
            return ITimingCache(dict(data["entries"]), data["tag"])

        def set_timing_cache(self, cache: Any, ignore_mismatch: Any) -> bool:
            if not isinstance(cache, ITimingCache):
                raise TypeError("set_timing_cache(cache, ignore_mismatch): cache must be a trt.ITimingCache")
            _bool(ignore_mismatch, "ignore_mismatch")
            rec.add("IBuilderConfig.set_timing_cache", ignore_mismatch)
            if cache.tag != version and not ignore_mismatch:
                error("setTimingCache: the cache was created by another TensorRT version or device")
                return False
            self.timing_cache = cache
            return True

        def get_timing_cache(self) -> ITimingCache | None:
            return self.timing_cache

    class Builder:
        def __init__(self, logger: Any) -> None:
            _logger(logger, "Builder(logger)")
            rec.add("Builder")
            self.logger = logger

        def create_network(self, flags: Any = 0) -> INetworkDefinition:
            _int(flags, "create_network(flags)")
            known = sum(1 << int(f) for f in NetworkDefinitionCreationFlag)
            if flags & ~known:
                raise ValueError(f"create_network: unknown creation flags {flags:#x}")
            rec.add("Builder.create_network", flags)
            if major >= 10 and "EXPLICIT_BATCH" in NetworkDefinitionCreationFlag.__members__ and flags & 1:
                rec.warnings.append("kEXPLICIT_BATCH is deprecated and has no effect")
            return INetworkDefinition(self, flags)

        def create_builder_config(self) -> IBuilderConfig:
            rec.add("Builder.create_builder_config")
            return IBuilderConfig(self)

        def create_optimization_profile(self) -> IOptimizationProfile:
            rec.add("Builder.create_optimization_profile")
            return IOptimizationProfile()

        def build_serialized_network(self, network: Any, config: Any) -> IHostMemory | None:
            if not isinstance(network, INetworkDefinition) or not isinstance(config, IBuilderConfig):
                raise TypeError("build_serialized_network(network, config): wrong argument types")
            rec.add("Builder.build_serialized_network")
            if network.builder is not self or config.builder is not self:
                raise RuntimeError("network and config must come from this builder")
            if not network.parsed or not network.inputs:
                error("Network must have at least one input and one output")
                return None
            precision = {"FP16", "BF16", "INT8", "FP8"} & {f.name for f in config.flag_set}
            if network.strongly_typed and precision:
                error(f"BuilderFlag {sorted(precision)} is not allowed with a strongly typed network")
                return None
            if "INT8" in precision and not network.qdq:
                error("INT8 flag on a network without Q/DQ layers and no calibrator (stand-in: refused)")
                return None
            dynamic = [t for t in network.inputs if any(d < 0 for d in t.shape)]
            if dynamic and not config.profiles:
                error("Network has dynamic or shape inputs, but no optimization profile has been defined.")
                return None
            io = []
            for tensor in network.inputs:
                shapes = [p.shapes.get(tensor.name) for p in config.profiles]
                if tensor in dynamic and (not shapes or any(s is None for s in shapes)):
                    error(f"optimization profile is missing values for input {tensor.name!r}")
                    return None
                for lo, _, hi in (s for s in shapes if s is not None):
                    fixed = [(d, a, b) for d, a, b in zip(tensor.shape, lo, hi, strict=False) if d >= 0]
                    if len(lo) != len(tensor.shape) or any(not a == d == b for d, a, b in fixed):
                        error(f"profile {lo}..{hi} does not match input {tensor.name!r} of shape {tensor.shape}")
                        return None
                io.append({"name": tensor.name, "mode": "INPUT", "dtype": tensor.dtype.name, "shape": tensor.shape,
                           "profile": shapes[0] if shapes else (tensor.shape,) * 3})
            for tensor in network.outputs:
                io.append({"name": tensor.name, "mode": "OUTPUT", "dtype": tensor.dtype.name, "shape": tensor.shape})
            cache = config.timing_cache
            layer = f"{network.onnx_path}|{io[0]['profile'][1]}|{sorted(precision)}"
            if cache is not None:
                if layer in cache.entries:
                    rec.timing_hits += 1
                else:
                    rec.timing_misses += 1
                    cache.entries[layer] = 1.0
            trt.builds += 1
            aux = config.max_aux_streams
            plan = {
                "magic": PLAN_MAGIC, "version": version, "onnx": network.onnx_path, "io": io,
                "flags": sorted(f.name for f in config.flag_set), "strongly_typed": network.strongly_typed,
                "workspace": config.pools.get(MemoryPoolType.WORKSPACE), "opt_level": config.builder_optimization_level,
                "aux_streams": 0 if aux == 0 else min(2, aux) if aux > 0 else 1,
            }
            return IHostMemory(json.dumps(plan).encode())

    class IExecutionContext:
        def __init__(self, engine: Any) -> None:
            self.engine = engine
            self.shapes: dict[str, tuple[int, ...]] = {}
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: Any, shape: Any) -> bool:
            if not isinstance(name, str):
                raise TypeError("set_input_shape(name, shape): name must be str")
            shape = _ints(shape, "set_input_shape(shape)")
            rec.add("IExecutionContext.set_input_shape", name, shape)
            tensor = self.engine.io.get(name)
            if tensor is None or tensor["mode"] != "INPUT":
                error(f"setInputShape: {name!r} is not an input tensor")
                return False
            lo, _, hi = tensor["profile"]
            if len(shape) != len(lo) or not all(a <= d <= b for a, d, b in zip(lo, shape, hi, strict=True)):
                error(f"setInputShape: {shape} is outside the optimization profile [{lo}, {hi}]")
                return False
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: Any) -> tuple[int, ...]:
            tensor = self.engine.io[name]
            if tensor["mode"] == "INPUT":
                return self.shapes.get(name, tuple(tensor["shape"]))
            batch = next(iter(self.shapes.values()), (-1,))[0]
            shape = tuple(batch if d < 0 and axis == 0 else d for axis, d in enumerate(tensor["shape"]))
            if any(d < 0 for d in shape[1:]) and len(self.shapes) == len(self.engine.inputs()):
                shape = self.engine.output_shapes(self)[name]  # other dynamic dims: what the network computes
            return shape

        def set_tensor_address(self, name: Any, memory: Any) -> bool:
            if not isinstance(name, str):
                raise TypeError("set_tensor_address(name, memory): name must be str")
            _int(memory, "set_tensor_address(memory)")
            rec.add("IExecutionContext.set_tensor_address", name)
            if name not in self.engine.io:
                error(f"setTensorAddress: no tensor {name!r}")
                return False
            if memory == 0 or memory % 16:
                error(f"setTensorAddress: {name!r}: address {memory:#x} is null or misaligned")
                return False
            self.addresses[name] = memory
            return True

        def execute_async_v3(self, stream_handle: Any) -> bool:
            _int(stream_handle, "execute_async_v3(stream_handle)")
            rec.add("IExecutionContext.execute_async_v3", stream_handle)
            io = self.engine.io
            missing = [n for n, t in io.items() if t["mode"] == "INPUT" and n not in self.shapes]
            unbound = [n for n in io if n not in self.addresses]
            if missing or unbound:
                error(f"enqueueV3: input shapes not set {missing}, addresses not set {unbound}")
                return False
            self.engine.compute(self)
            return True

    class ICudaEngine:
        def __init__(self, plan: dict) -> None:
            self.plan = plan
            self.io = {t["name"]: t for t in plan["io"]}
            self._session: Any = None
            self._shapes: dict[tuple, dict[str, tuple[int, ...]]] = {}

        @property
        def num_io_tensors(self) -> int:
            return len(self.io)

        def get_tensor_name(self, index: int) -> str:
            return list(self.io)[_int(index, "get_tensor_name(index)")]

        def get_tensor_mode(self, name: str) -> Any:
            return TensorIOMode[self.io[name]["mode"]]

        def get_tensor_dtype(self, name: str) -> Any:
            return DataType[self.io[name]["dtype"]]

        @property
        def num_aux_streams(self) -> int:
            return self.plan["aux_streams"]

        def inputs(self) -> list[str]:
            return [n for n, t in self.io.items() if t["mode"] == "INPUT"]

        def output_shapes(self, context: IExecutionContext) -> dict[str, tuple[int, ...]]:
            """Output shapes for the context's input shapes (real TensorRT infers them from the network; here the
            ONNX model runs once on zeros of those shapes)."""
            import numpy as np

            key = tuple(sorted(context.shapes.items()))
            if key not in self._shapes:
                feeds = {n: np.zeros(context.shapes[n], dtype=_NUMPY[self.io[n]["dtype"]]) for n in self.inputs()}
                outputs = self._ort().run(None, feeds)
                self._shapes[key] = {m.name: tuple(np.shape(v)) for m, v in zip(self._ort().get_outputs(), outputs,
                                                                                 strict=True)}
            return self._shapes[key]

        def _ort(self) -> Any:
            import onnxruntime

            if self._session is None:
                self._session = onnxruntime.InferenceSession(self.plan["onnx"], providers=["CPUExecutionProvider"])
            return self._session

        def create_execution_context(self) -> IExecutionContext:
            rec.add("ICudaEngine.create_execution_context")
            return IExecutionContext(self)

        def compute(self, context: IExecutionContext) -> None:
            import numpy as np

            self._ort()
            feeds = {}
            for name, tensor in self.io.items():
                if tensor["mode"] == "INPUT":
                    array = np.empty(context.shapes[name], dtype=_NUMPY[tensor["dtype"]])
                    ctypes.memmove(array.ctypes.data, context.addresses[name], array.nbytes)
                    feeds[name] = array
            outputs = self._session.run(None, feeds)
            for meta, value in zip(self._session.get_outputs(), outputs, strict=True):
                out = np.ascontiguousarray(value, dtype=_NUMPY[self.io[meta.name]["dtype"]])
                if out.shape != context.get_tensor_shape(meta.name):
                    raise AssertionError(f"stand-in: output {meta.name} shape {out.shape} mismatch")
                ctypes.memmove(context.addresses[meta.name], out.ctypes.data, out.nbytes)

    class Runtime:
        def __init__(self, logger: Any) -> None:
            _logger(logger, "Runtime(logger)")
            rec.add("Runtime")

        def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
            if not isinstance(serialized_engine, (bytes, bytearray, memoryview)):
                raise TypeError("deserialize_cuda_engine(serialized_engine): expected a buffer")
            rec.add("Runtime.deserialize_cuda_engine")
            try:
                plan = json.loads(bytes(serialized_engine))
                assert plan["magic"] == PLAN_MAGIC
            except Exception:  # noqa: BLE001
                error("deserializeCudaEngine: the plan is not a serialized engine")
                return None
            if plan["version"] != version:
                error(f"The engine plan file is not compatible with this version of TensorRT, expecting library "
                      f"version {version} got {plan['version']}")
                return None
            return ICudaEngine(plan)

    for obj in (DataType, TensorIOMode, MemoryPoolType, BuilderFlag, NetworkDefinitionCreationFlag, ILogger, Logger,
                IHostMemory, INetworkDefinition, OnnxParser, IOptimizationProfile, ITimingCache, IBuilderConfig,
                Builder, IExecutionContext, ICudaEngine, Runtime):
        setattr(trt, obj.__name__, obj)
    return trt


# --- torch_tensorrt ---------------------------------------------------------------------------------------------

# keyword arguments of torch_tensorrt.dynamo.compile (documented signature, 2.5-2.6) that compile() passes through
DYNAMO_COMPILE_KWARGS = frozenset({
    "device", "disable_tf32", "assume_dynamic_shape_support", "sparse_weights", "engine_capability", "debug",
    "num_avg_timing_iters", "workspace_size", "dla_sram_size", "dla_local_dram_size", "dla_global_dram_size",
    "truncate_double", "require_full_compilation", "min_block_size", "torch_executed_ops", "torch_executed_modules",
    "pass_through_build_failures", "max_aux_streams", "version_compatible", "optimization_level",
    "use_python_runtime", "use_fast_partitioner", "enable_experimental_decompositions", "dryrun",
    "hardware_compatible", "timing_cache_path", "lazy_engine_init", "cache_built_engines", "reuse_cached_engines",
    "engine_cache_dir", "engine_cache_size", "custom_engine_cache", "immutable_weights", "make_refittable",
})


# releases where torch-tensorrt's input handling changed (pytorch/TensorRT py/torch_tensorrt/_compile.py at each tag)
KWARGS_ONLY_FROM = (2, 10)  # compile(arg_inputs=(), kwarg_inputs=...): before, "'arg_inputs' and 'inputs' should not
#                             both be None." for an empty arg_inputs (the check was `not arg_inputs`, then `is None`)
RETRACE_DEFAULT_FROM = (2, 10)  # save(retrace=True) is the default from 2.10 (re-export at the example inputs)


def make_torch_tensorrt(version: str = "2.9.0", record: Record | None = None) -> types.ModuleType:
    """A stand-in ``torch_tensorrt`` of the given version. compile() does what the real dynamo path does before
    TensorRT: ``torch_tensorrt.dynamo.trace``, i.e. ``torch.export.export`` of the module at each Input's opt shape,
    with a ``torch.export.Dim`` named ``'<Input.name>_<axis>'`` for every axis whose min, opt and max differ, keyed by
    forward's parameter names (positional Inputs) and the kwarg_inputs keys. That trace is real torch.export, so what
    it refuses (two Dims the model makes equal, a profile a shape falls outside of) fails here as it would there. The
    compiled module is the traced program's module: it refuses input shapes outside [min, max], as the engines do."""
    import inspect

    import torch

    rec = record or Record()
    release = tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:2])
    mod = types.ModuleType("torch_tensorrt")
    mod.__spec__ = importlib.machinery.ModuleSpec("torch_tensorrt", None)
    mod.__version__ = version
    mod.record = rec

    class Input:
        """``shape=`` (static) or all of ``min_shape``/``opt_shape``/``max_shape`` (dynamic, even when equal), ``dtype``
        (a torch dtype) and ``name`` (the prefix of the tracer's Dim names; empty by default, as in torch_tensorrt)."""

        def __init__(self, shape: Any = None, min_shape: Any = None, opt_shape: Any = None, max_shape: Any = None,
                     dtype: Any = torch.float32, name: str = "", **kwargs: Any) -> None:
            if kwargs:
                raise TypeError(f"Input: unexpected arguments {sorted(kwargs)}")
            if not isinstance(dtype, torch.dtype):
                raise TypeError("Input(dtype=...): expected a torch.dtype")
            if not isinstance(name, str):
                raise TypeError("Input(name=...): expected str")
            if shape is not None:
                if any(s is not None for s in (min_shape, opt_shape, max_shape)):
                    raise ValueError("Input: give shape or min_shape/opt_shape/max_shape, not both")
                self.shape = (tuple(shape),) * 3
                self.dynamic = False
            elif all(s is not None for s in (min_shape, opt_shape, max_shape)):
                self.shape = (tuple(min_shape), tuple(opt_shape), tuple(max_shape))
                self.dynamic = True
            else:
                raise ValueError("Input: min_shape, opt_shape and max_shape are needed together")
            self.dtype = dtype
            self.name = name

        def example_tensor(self, device: Any) -> Any:
            """Input.example_tensor: torch.rand of the opt shape (a static Input: its shape), cast to the dtype."""
            return torch.rand(self.shape[1], device=device).to(self.dtype)

        def dynamic_dims(self) -> dict[int, Any]:
            """torch_tensorrt.dynamo._tracer.get_dynamic_shapes: a Dim per axis whose min, opt and max differ."""
            if not self.dynamic:
                return {}
            return {axis: torch.export.Dim(f"{self.name}_{axis}", min=lo, max=hi)
                    for axis, (lo, mid, hi) in enumerate(zip(*self.shape, strict=True)) if not lo == mid == hi}

    def _profile_ok(spec: Input) -> None:
        lo, mid, hi = spec.shape
        if not len(lo) == len(mid) == len(hi):
            raise RuntimeError(f"TensorRT: Input shapes {spec.shape}: min, opt and max differ in rank")
        if not all(0 < a <= b <= c for a, b, c in zip(lo, mid, hi, strict=True)):
            raise RuntimeError(f"TensorRT: Input shapes {spec.shape}: not 0 < min <= opt <= max (invalid profile)")

    def compile(module: Any, ir: str = "default", inputs: Any = None, arg_inputs: Any = None,
                kwarg_inputs: Any = None, enabled_precisions: Any = None, **kwargs: Any) -> Any:
        if not isinstance(module, torch.nn.Module):
            raise TypeError("compile(module): expected a torch.nn.Module")
        if ir not in ("default", "dynamo"):
            raise ValueError(f"compile(ir={ir!r}): this stand-in models the dynamo path")
        unknown = set(kwargs) - DYNAMO_COMPILE_KWARGS
        if unknown:
            raise TypeError(f"compile(): unknown keyword arguments {sorted(unknown)}")
        if release < KWARGS_ONLY_FROM:  # torch_tensorrt.compile's own checks, as each release words them
            if not arg_inputs and not inputs:
                raise AssertionError("'arg_inputs' and 'inputs' should not both be None.")
            if arg_inputs and inputs:
                raise AssertionError("'arg_inputs' and 'inputs' should not be used at the same time.")
            specs = list(inputs or arg_inputs)
        else:
            if arg_inputs is None and inputs is None:
                raise AssertionError("'arg_inputs' and 'inputs' should not both be None.")
            if arg_inputs is not None and inputs is not None:
                raise AssertionError("'arg_inputs' and 'inputs' should not be used at the same time.")
            specs = list(inputs if inputs is not None else arg_inputs)
        if kwarg_inputs is not None and not isinstance(kwarg_inputs, dict):
            raise TypeError("compile(kwarg_inputs=...): expected a dict of forward's keyword arguments")
        named = dict(kwarg_inputs or {})
        every = [*specs, *named.values()]
        if not every or not all(isinstance(s, Input) for s in every):
            raise TypeError("compile(inputs=[torch_tensorrt.Input(...)]) is required")
        if enabled_precisions is not None and (not isinstance(enabled_precisions, (set, frozenset)) or not all(
                isinstance(p, torch.dtype) for p in enabled_precisions)):
            raise TypeError("compile(enabled_precisions=...): expected a set of torch dtypes")
        params = {p.dtype for p in module.parameters()}
        floats = [s.dtype for s in every if s.dtype.is_floating_point]
        if params and any(d not in params for d in floats):
            raise TypeError(f"compile: input dtype {floats} differs from the module's {params}")
        for spec in every:
            _profile_ok(spec)
        # torch_tensorrt.dynamo.trace: Dims keyed by forward's parameter names (get_dynamic_shapes_args zips the
        # positional Inputs with them) and by the kwarg_inputs keys; examples at the opt shapes, on the module's device
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        names = list(inspect.signature(module.forward).parameters)
        dynamic = {name: spec.dynamic_dims() for spec, name in zip(specs, names[:len(specs)], strict=True)}
        dynamic.update({key: spec.dynamic_dims() for key, spec in named.items()})
        rec.add("compile", ir, tuple(s.shape for s in specs), frozenset(enabled_precisions or ()),
                tuple(sorted(kwargs.items())))
        rec.add("dynamo.trace", tuple((name, s.shape, s.dtype) for s, name in zip(specs, names, strict=False)),
                tuple((key, s.shape, s.dtype) for key, s in named.items()),
                {key: {axis: (d.__name__, d.min, d.max) for axis, d in dims.items()} for key, dims in dynamic.items()})
        with torch.no_grad():
            program = torch.export.export(module, tuple(s.example_tensor(device) for s in specs),
                                          kwargs={key: s.example_tensor(device) for key, s in named.items()},
                                          dynamic_shapes=dynamic, strict=False)
        compiled = program.module()  # a GraphModule, as the real compile returns; calls outside [min, max] fail
        compiled.standin_program = program  # what the legacy exporter (save(retrace=False)) serializes
        return compiled

    def save(module: Any, file_path: Any = "", *, output_format: str = "exported_program", inputs: Any = None,
             arg_inputs: Any = None, kwarg_inputs: Any = None, retrace: bool | None = None, **kwargs: Any) -> None:
        """torch_tensorrt.save of a compiled GraphModule, with the checks of releases 2.5-2.11 (2.12 also takes Input
        specs as arg_inputs; not modelled). ``retrace`` (default False before 2.10, True from 2.10): re-export at the
        example inputs given (a program for those shapes); False: the compiled graph as it is (its dynamic dims)."""
        if retrace is None:
            retrace = release >= RETRACE_DEFAULT_FROM
        if arg_inputs is not None and not all(isinstance(t, torch.Tensor) for t in arg_inputs):
            raise ValueError("Not all inputs provided are torch.tensors. Please provide torch.tensors as inputs")
        if arg_inputs and inputs:
            raise AssertionError("'arg_inputs' and 'inputs' should not be used at the same time.")
        arg_inputs = inputs or arg_inputs
        kwarg_inputs = {} if kwarg_inputs is None else kwarg_inputs
        if kwarg_inputs and any(value is None for value in kwarg_inputs.values()):
            raise ValueError("kwargs should not include None.")
        if output_format not in ("exported_program", "torchscript", "aot_inductor"):
            raise ValueError(f"save(output_format={output_format!r}): unknown format")
        if not isinstance(file_path, (str, Path)) or not str(file_path):
            raise ValueError("File path cannot be empty. Please provide a valid file path")
        if not isinstance(module, torch.fx.GraphModule):
            raise ValueError("Input model is of type nn.Module. Saving nn.Module directly is not supported. "
                             "Supported model types torch.jit.ScriptModule | torch.fx.GraphModule | "
                             "torch.export.ExportedProgram.")
        rec.add("save", str(file_path), output_format)
        rec.add("save.inputs", tuple(tuple(t.shape) for t in arg_inputs or ()),
                tuple((key, tuple(t.shape)) for key, t in kwarg_inputs.items()), retrace)
        if retrace:
            if arg_inputs is None:
                raise ValueError("Provided model is a torch.fx.GraphModule and retrace is True, however the inputs or "
                                 "arg_inputs are empty. Please provide valid torch.tensors as inputs or arg_inputs to "
                                 "trace and save the model")
            with torch.no_grad():
                program = torch.export.export(module, tuple(arg_inputs), kwargs=kwarg_inputs, strict=False)
        else:
            program = getattr(module, "standin_program", None)
            if program is None:
                raise ValueError("save(retrace=False): the module is not one torch_tensorrt.compile returned")
        torch.export.save(program, str(file_path))

    def load(file_path: Any, **kwargs: Any) -> Any:
        rec.add("load", str(file_path))
        return torch.export.load(str(file_path))

    mod.Input = Input
    mod.compile = compile
    mod.save = save
    mod.load = load
    return mod


# --- ONNX Runtime TensorRT EP provider options ------------------------------------------------------------------

# name -> value kind, as ORT's TensorRT EP parses them (tensorrt_execution_provider_info.cc and the Python
# bindings' option parser): "bool" accepts True/False/true/false; "int" a decimal integer; "str" any non-empty
# string; "shapes" 'input:1x3x224x224[,input2:...]'
ORT_TRT_OPTIONS = {
    "device_id": "int", "has_user_compute_stream": "bool", "user_compute_stream": "str",
    "trt_max_partition_iterations": "int", "trt_min_subgraph_size": "int", "trt_max_workspace_size": "int",
    "trt_fp16_enable": "bool", "trt_bf16_enable": "bool", "trt_int8_enable": "bool",
    "trt_int8_calibration_table_name": "str", "trt_int8_use_native_calibration_table": "bool",
    "trt_dla_enable": "bool", "trt_dla_core": "int", "trt_dump_subgraphs": "bool", "trt_engine_cache_enable": "bool",
    "trt_engine_cache_path": "str", "trt_engine_cache_prefix": "str", "trt_engine_decryption_enable": "bool",
    "trt_engine_decryption_lib_path": "str", "trt_force_sequential_engine_build": "bool",
    "trt_context_memory_sharing_enable": "bool", "trt_layer_norm_fp32_fallback": "bool",
    "trt_timing_cache_enable": "bool", "trt_timing_cache_path": "str", "trt_force_timing_cache": "bool",
    "trt_detailed_build_log": "bool", "trt_build_heuristics_enable": "bool", "trt_sparsity_enable": "bool",
    "trt_builder_optimization_level": "int", "trt_auxiliary_streams": "int", "trt_tactic_sources": "str",
    "trt_extra_plugin_lib_paths": "str", "trt_profile_min_shapes": "shapes", "trt_profile_max_shapes": "shapes",
    "trt_profile_opt_shapes": "shapes", "trt_cuda_graph_enable": "bool", "trt_dump_ep_context_model": "bool",
    "trt_ep_context_file_path": "str", "trt_ep_context_embed_mode": "int", "trt_engine_hw_compatible": "bool",
}
_SHAPES = re.compile(r"^[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*$")


def check_ort_trt_options(options: dict[str, Any]) -> None:
    """Raise with every name or value ONNX Runtime's TensorRT EP would reject (values as strings, as ORT gets them)."""
    problems = []
    for name, value in options.items():
        kind = ORT_TRT_OPTIONS.get(name)
        text = str(value)
        if kind is None:
            problems.append(f"unknown option {name!r} (ORT: 'Invalid TensorRT EP option')")
        elif kind == "bool" and text not in ("True", "False", "true", "false"):
            problems.append(f"{name}={text!r}: ORT wants 'True' or 'False'")
        elif kind == "int" and not re.fullmatch(r"-?\d+", text):
            problems.append(f"{name}={text!r}: ORT wants an integer")
        elif kind == "str" and not text:
            problems.append(f"{name}: ORT rejects an empty string")
        elif kind == "shapes" and not _SHAPES.match(text):
            problems.append(f"{name}={text!r}: ORT wants 'input:1x3x224x224[,input2:...]'")
    profile = [n for n in ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
               if n in options]
    if profile and len(profile) != 3:
        problems.append(f"explicit profiles need min, opt and max shapes together; got {profile}")
    if len(profile) == 3:
        lo, mid, hi = (_parse_shapes(str(options[n])) for n in profile)
        for name in lo:
            if not (name in mid and name in hi and all(a <= b <= c for a, b, c in zip(lo[name], mid[name], hi[name],
                                                                                          strict=True))):
                problems.append(f"profile for {name!r} is not min <= opt <= max")
    if problems:
        raise AssertionError("; ".join(problems))


def _parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for item in text.split(","):
        name, _, dims = item.rpartition(":")
        out[name] = tuple(int(d) for d in dims.split("x"))
    return out
