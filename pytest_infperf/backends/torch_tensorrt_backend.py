"""torch-tensorrt (``torch-tensorrt``): the torch model compiled by ``torch_tensorrt.compile(ir="dynamo")`` for the
cell's precision and input shape, saved and loaded as an ExportedProgram.

Engine caching is this plugin's: the compiled program is saved with ``torch_tensorrt.save`` into a cache keyed by the
model's weights digest, the cell's input shape, precision and builder options, the GPU and the torch, torch-tensorrt
and TensorRT versions; a rerun loads it (``torch.export.load``) instead of compiling. torch-tensorrt's own engine
cache (``cache_built_engines``/``reuse_cached_engines``) stays off: it hashes the graph with the weights stripped and
refits them on a hit, which needs refittable engines, and a refittable engine is not the engine a deployment runs.
Both a miss and a hit run the program loaded from disk, so the two measure the same thing.

Several / integer inputs (``inputs=``, inputs.py): one ``torch_tensorrt.Input(min_shape=, opt_shape=, max_shape=,
dtype=)`` per input, min/opt/max the sweep profile the tensorrt backends use (`ShapeProfile.for_named_input`: the batch
axis and each named dim over the test's values, opt = max), float inputs in the cell's precision and integer ones in
their own dtype. Each input binds to the forward parameter torch passes it to: the leading ones positionally
(``arg_inputs``), the others by keyword (``kwarg_inputs``); torch-tensorrt < 2.10 needs at least one positional input.
torch-tensorrt's tracer names each dynamic axis after its position (``torch.export.Dim('_<axis>')`` for an Input without
a name): the batch axis of every input is one Dim, which is what the model needs, but two named dims at one position,
or one named dim at two, cannot be told apart or related; such tests skip with the reason. One saved program per cell
(its key holds the cell's shapes, the inputs' signature and every profile), saved with the cell's tensors as examples:
from 2.10 ``save`` re-traces at them by default, so a program is only known to serve the shapes it was saved with.

Cold start: compile (``build_s``), save (``save_s``) on a miss, load (``deserialize_s``). The session and timing are
the torch backend's (TorchSession, CUDA events). None of this has run on real hardware yet: tested against the stand-in
(tests/trt_standin.py), whose compile traces with real torch.export as torch-tensorrt's does.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import gpu, progress
from ..artifacts import atomic
from ..artifacts.engine_cache import (
    ShapeProfile,
    cache_key,
    gpu_identity,
    input_profiles,
    parse_version,
    slug,
    write_key_file,
)
from ..errors import ModelError
from ..inputs import Inputs, InputsSpec, Packed, caller, check_signature, in_forward_order, to_torch
from .base import import_library
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
    ("Input(min_shape=, opt_shape=, max_shape=, dtype=) (several inputs)", "1.0"),
    ("compile(..., arg_inputs=[Input], kwarg_inputs={name: Input}) (several inputs)", "2.5"),
    ("save(..., arg_inputs=[tensors], kwarg_inputs={name: tensor}) (several inputs)", "2.5"),
    ("compile(..., arg_inputs=[], kwarg_inputs={...}) (no positional input)", "2.10"),
)
KWARGS_ONLY_FROM = (2, 10)  # compile() before 2.10: "'arg_inputs' and 'inputs' should not both be None." for []


class TorchTensorRTBackend:
    name = "torch-tensorrt"
    supports_inputs = True  # several / integer inputs (inputs.py): a torch_tensorrt.Input per input, sweep profiles

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
        reason = gpu.cuda_unavailable_reason(case.id)
        if reason or case.inputs is None:
            return reason
        return self._inputs_reason(case, source, parse_version(version))

    def _inputs_reason(self, case: Case, source: ModelSource, version: tuple[int, ...]) -> str | None:
        """Why torch-tensorrt cannot take this test's inputs= (known before any input is generated), or None."""
        spec = case.inputs
        assert spec is not None
        dims = dict(case.dims)
        profiles = tuple((s.name, ShapeProfile.for_named_input(s.shape, (case.batch, *s.resolved(dims)),
                                                               dict(spec.dims), self.options.max_batch,
                                                               self.options.profile)) for s in spec.specs)
        problem = axis_problem(profiles, spec)
        if problem is None and spec.specs:  # a callable's inputs: positional or named only once generated
            try:
                module = source.torch_module()
            except ModelError:
                return None  # the cell fails with the model's own error
            binding = bind_inputs(module, [s.name for s in spec.specs], False, version)
            problem = binding if isinstance(binding, str) else None
        return f"{case.id}: {problem}" if problem else None

    def prepare(self, source: ModelSource) -> None:
        import_library("torch_tensorrt")
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
        trt_version = _tensorrt_version()
        gpu_id = gpu_identity(case.device)
        opts = self.options
        x: Any
        specs: Callable[[], dict[str, Any]]
        if isinstance(inputs, Inputs):  # several / integer inputs: an Input per input, bound as torch binds them
            x, specs, examples, keyed, shown = self._several(case, source, inputs, torch_tensorrt, dtype)
        else:
            x = torch.from_numpy(inputs).to(device=device, dtype=dtype)
            specs = _static_input(torch_tensorrt, tuple(x.shape), dtype)
            examples = {"arg_inputs": [x]}
            keyed = {"input": list(case.batch_shape)}
            shown = {"input_shape": list(case.batch_shape)}
        parts = {
            "kind": "torch-tensorrt-program", "weights": source.weights_digest(), **keyed,
            "precision": case.precision, "workspace_mib": opts.workspace_mib, "opt_level": opts.opt_level,
            "aux_streams": opts.aux_streams, "gpu": gpu_id, "torch": torch.__version__,
            "torch_tensorrt": str(torch_tensorrt.__version__), "tensorrt": trt_version,
        }
        path = cache_dir / "infperf-torch-trt" / f"{cache_key(parts)}-{slug(source.name)}-{case.precision}.ep"
        phases: dict[str, float] = {}
        details: dict[str, object] = {**shown, "enabled_precisions": [case.precision],
                                      "workspace_mib": opts.workspace_mib, "opt_level": opts.opt_level,
                                      "aux_streams_max": opts.aux_streams, "tensorrt": trt_version,
                                      "program_cache": "hit" if path.is_file() else "miss (compiled)"}
        if not path.is_file():
            model = copy.deepcopy(source.torch_module()).to(device=device, dtype=dtype).eval()
            start = time.perf_counter()
            progress.report("compiling with torch_tensorrt (dynamo; cached afterwards)")
            with torch.inference_mode(False), torch.no_grad():
                compiled = torch_tensorrt.compile(
                    model, ir="dynamo", **specs(),
                    enabled_precisions={dtype}, **self.compile_kwargs(cache_dir, gpu_id, trt_version),
                )
            phases["build_s"] = time.perf_counter() - start
            start = time.perf_counter()
            with atomic.replacing(path, suffix=".ep") as tmp:
                torch_tensorrt.save(compiled, str(tmp), output_format="exported_program", **examples)
            write_key_file(path.with_suffix(".json"), parts)
            phases["save_s"] = time.perf_counter() - start
            del compiled, model
        start = time.perf_counter()
        module = torch.export.load(str(path)).module()
        phases["deserialize_s"] = time.perf_counter() - start
        details["program_file"] = path.name
        call = caller(module, x)
        if case.device == "cuda" and case.concurrency > 1:  # each concurrent user on its own stream
            session = TorchSession(call, x, case.device, details, stream=torch.cuda.Stream())
        else:
            session = TorchSession(call, x, case.device, details)
        session.phases = phases
        return session

    def _several(self, case: Case, source: ModelSource, inputs: Inputs, torch_tensorrt: Any,
                 dtype: Any) -> tuple[Packed, Callable[[], dict[str, Any]], dict, dict, dict]:
        """A cell's inputs on the device, bound as torch binds them (leading ones positionally, the rest by keyword),
        the Inputs to compile with (min/opt/max of the sweep profile; made when called); what save gets as examples;
        the key's and the details' parts."""
        assert case.inputs is not None
        version = parse_version(str(torch_tensorrt.__version__))
        model = source.torch_module()  # forward's signature only (the copy on the device is made to compile)
        check_signature(model, inputs, source.name)
        ordered = in_forward_order(model, inputs)
        per_input = input_profiles(case, ordered, self.options.max_batch, self.options.profile)
        binding = bind_inputs(model, ordered.names, ordered.positional, version)
        problem = binding if isinstance(binding, str) else axis_problem(per_input, case.inputs)
        if problem:  # a callable's inputs (a test's specs skip in unavailable_reason)
            raise ModelError(f"{case.id}: {problem}")
        positional, keywords = binding  # type: ignore[misc]
        profiles = dict(per_input)
        packed = to_torch(ordered, case.device, dtype)
        tensors = dict(zip(ordered.names, packed.args, strict=True)) if ordered.positional else dict(packed.kwargs)
        x = Packed(tuple(tensors[n] for n in positional), {n: tensors[n] for n in keywords})

        def spec(name: str) -> Any:
            p = profiles[name]
            return torch_tensorrt.Input(min_shape=p.min, opt_shape=p.opt, max_shape=p.max, dtype=tensors[name].dtype)

        def specs() -> dict[str, Any]:
            return {"arg_inputs": [spec(n) for n in positional], "kwarg_inputs": {n: spec(n) for n in keywords}}

        examples = {"arg_inputs": list(x.args), "kwarg_inputs": dict(x.kwargs)}
        shapes = {n: list(t.shape) for n, t in tensors.items()}
        dtypes = {n: str(t.dtype).removeprefix("torch.") for n, t in tensors.items()}
        profile = {n: profiles[n].as_dict() for n in tensors}
        keyed = {"inputs": case.inputs.signature(dict(case.dims)), "input_shapes": shapes, "input_dtypes": dtypes,
                 "profile": profile, "arg_inputs": list(positional), "kwarg_inputs": list(keywords)}
        shown = {"input_shapes": shapes, "io_dtypes": dtypes, "profile": profile, "arg_inputs": list(positional),
                 "kwarg_inputs": list(keywords)}
        return x, specs, examples, keyed, shown

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


def _static_input(torch_tensorrt: Any, shape: tuple[int, ...], dtype: Any) -> Callable[[], dict[str, Any]]:
    """compile's inputs for one input of the cell's shape, made when called: on a miss only (an Input makes an example
    tensor of its shape on the host)."""
    return lambda: {"inputs": [torch_tensorrt.Input(shape=shape, dtype=dtype)]}


def bind_inputs(module: Any, names: Sequence[str], positional: bool,
                version: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | str:
    """How a cell's inputs reach forward in torch-tensorrt: (positional, by keyword) names, forward's order, or why
    they cannot. torch-tensorrt's tracer keys each input's dynamic axes by the forward parameter it binds to (the
    positional Inputs zipped with forward's parameter names, kwarg_inputs by key), so every input must bind to a named
    parameter; inputs passed by name go positionally as long as they are forward's leading parameters (the same
    binding as by keyword), then by keyword. Before 2.10 compile needs at least one positional input."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return ("torch-tensorrt's tracer reads forward's parameter names (inspect.signature), which this model's "
                "forward does not give; measure it with torch, torch-compile or onnxruntime")
    ordered = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kinds = {p.kind for p in params}
    if positional:  # more than forward names without *args: check_signature's error
        if len(names) > len(ordered) and inspect.Parameter.VAR_POSITIONAL in kinds:
            return (f"the inputs callable returns {len(names)} positional inputs and forward names "
                    f"{len(ordered)} parameters ({', '.join(p.name for p in ordered)}) before *args; torch-tensorrt's "
                    "tracer keys each input's dynamic axes by its forward parameter, so inputs taken through *args "
                    "cannot be compiled; return a dict by forward's parameter names")
        return tuple(names), ()
    keywords = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    loose = [n for n in names if n not in keywords]
    if loose and inspect.Parameter.VAR_KEYWORD in kinds:  # without **kwargs: check_signature's error (a wrong name)
        return (f"input(s) {', '.join(map(repr, loose))} reach forward through **kwargs; torch-tensorrt's tracer keys "
                "each input's dynamic axes by a named forward parameter; name them in forward's signature")
    lead: list[str] = []
    for param in ordered:
        if param.name not in names:
            break
        lead.append(param.name)
    rest = tuple(n for n in names if n not in lead)
    if not lead and version < KWARGS_ONLY_FROM:
        first = ordered[0].name if ordered else "(none)"
        return (f"torch-tensorrt {'.'.join(map(str, version))} compiles with at least one positional input "
                f"(compile(arg_inputs=[]) raises before 2.10), and forward's first parameter {first!r} is not one "
                f"of the inputs ({', '.join(names)}); pip install -U torch-tensorrt (>= 2.10 takes keyword inputs "
                "alone), or give inputs= for forward's leading parameters")
    return tuple(lead), rest


def axis_problem(profiles: Sequence[tuple[str, ShapeProfile]], spec: InputsSpec) -> str | None:
    """None when torch-tensorrt's Dim names fit the inputs' dynamic axes, else why not. Its tracer names a dynamic
    axis '<Input.name>_<axis>' (torch_tensorrt.dynamo._tracer.get_dynamic_shapes) and torch.export makes Dims of one
    name one symbol. Inputs are left unnamed, so every input's batch axis (0) is one Dim, as the model needs (named
    Inputs give one Dim per input, and torch.export refuses Dims the model makes equal). That is right as long as
    each position carries one dim: two named dims at one position would be made one, and one named dim at two
    positions would be two Dims the model makes equal."""
    shapes: Mapping[str, tuple[int | str, ...]] = {s.name: s.shape for s in spec.specs}
    at: dict[int, tuple[str, str]] = {}  # position -> (dim, the input that has it there)
    where: dict[str, tuple[int, str]] = {}  # dim -> (position, input)
    for name, profile in profiles:
        per_sample = shapes.get(name, ())
        for axis, (lo, mid, hi) in enumerate(zip(profile.min, profile.opt, profile.max, strict=True)):
            if lo == mid == hi:
                continue  # static: no Dim
            dim = "batch" if axis == 0 else str(per_sample[axis - 1]) if axis - 1 < len(per_sample) else f"axis{axis}"
            seen = at.setdefault(axis, (dim, name))
            if seen[0] != dim:
                return (f"dims {seen[0]!r} ({seen[1]!r}) and {dim!r} ({name!r}) are both axis {axis}, and "
                        f"torch-tensorrt's tracer names a dynamic axis by its position (torch.export.Dim '_{axis}'), "
                        "so it would make them one; measure this model with tensorrt or onnxruntime-trt (a profile "
                        "per named input), or put each dim at its own axis")
            other = where.setdefault(dim, (axis, name))
            if other[0] != axis:
                return (f"dim {dim!r} is axis {other[0]} of {other[1]!r} and axis {axis} of {name!r}, and "
                        "torch-tensorrt's tracer names a dynamic axis by its position, so they would be two "
                        "torch.export Dims that the model makes equal (torch.export refuses that); measure this "
                        "model with tensorrt or onnxruntime-trt, or put the dim at the same axis in every input")
    return None
