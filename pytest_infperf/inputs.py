"""Model inputs beyond one float tensor: per-input specs, named dimensions as cell axes, seeded values in valid
ranges, the inputs of an ``.onnx`` graph, and outputs of any structure flattened for the output check.

What a perf test writes (validated at collection by `parse`)::

    @pytest.mark.infperf(
        model=make_bert,
        inputs={"input_ids": dict(shape=("seq",), dtype="int64", low=0, high=30522),
                "attention_mask": dict(shape=("seq",), dtype="int64", fill=1)},
        dims={"seq": [128, 512]},
        unit="sequence",
    )

or ``inputs=make_inputs``, a callable ``(batch, dims, generator) -> tuple | dict`` of arrays or tensors, where
``dims`` is the cell's ``{name: value}`` and ``generator`` a seeded ``numpy.random.Generator``. A dict of inputs is
passed by name (forward keyword arguments for torch, input names for ONNX), a tuple positionally. numpy and torch are
imported lazily: `import pytest_infperf` imports neither torch nor onnx.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

FLOAT_DTYPES = ("float32", "float16")
INT_DTYPES = ("int64", "int32", "int8", "uint8", "bool")
DTYPES = FLOAT_DTYPES + INT_DTYPES
SPEC_KEYS = ("shape", "dtype", "low", "high", "fill")
DEFAULT_UNIT = "image"
RESERVED_DIMS = frozenset({"batch", "model", "backend", "device", "precision", "shape", "concurrency",
                           "infperf_case", "unit"})
RANDOM_SAMPLES = 512  # as runner.RANDOM_SAMPLES: larger batches repeat their first samples

# ONNX TensorProto element types (onnx.TensorProto.FLOAT = 1, ...) and onnxruntime's type strings
_ONNX_ELEM = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


@dataclass(frozen=True)
class InputSpec:
    """One input of one sample: its shape (ints, or names of dims), dtype and value range."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    low: float | None = None
    high: float | None = None
    fill: float | None = None

    def resolved(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(dims[d] if isinstance(d, str) else d for d in self.shape)


@dataclass(frozen=True)
class InputsSpec:
    """A test's inputs: specs (or a callable), its named dims with their swept values, and the per-sample unit."""

    specs: tuple[InputSpec, ...] = ()
    factory: Callable[..., Any] | None = field(default=None, compare=False)
    dims: tuple[tuple[str, tuple[int, ...]], ...] = ()
    unit: str = DEFAULT_UNIT
    sequence_dim: str | None = None  # tokens per second = samples per second x this dim's value

    def combos(self) -> list[tuple[tuple[str, int], ...]]:
        """Every assignment of the dims' values, in declaration order (a cell axis each)."""
        names = [name for name, _ in self.dims]
        return [tuple(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in self.dims))]

    def first_shape(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        """The first input's per-sample shape (the table's shape column); () for a callable."""
        return self.specs[0].resolved(dims) if self.specs else ()

    def signature(self, dims: Mapping[str, int]) -> str:
        """What an ONNX export depends on: names, dtypes and shapes (named dims stay names: they are dynamic axes;
        a callable's shapes are fixed per dims, so their values are in it)."""
        if self.factory is not None:
            name = f"{getattr(self.factory, '__module__', '')}.{getattr(self.factory, '__qualname__', '')}"
            return f"callable:{name}:" + ",".join(f"{k}={v}" for k, v in sorted(dims.items()))
        return ";".join(f"{s.name}:{s.dtype}:{'x'.join(map(str, s.shape))}" for s in self.specs)

    def describe(self, dims: Mapping[str, int]) -> dict[str, object]:
        """Plain JSON for the results: each input's per-sample shape and dtype, the dims and the unit."""
        return {
            "inputs": {s.name: {"shape": list(s.resolved(dims)), "dtype": s.dtype} for s in self.specs}
            if self.specs else "callable",
            "dims": dict(dims),
            "unit": self.unit,
        }


class Inputs:
    """A cell's generated inputs, on the host: named arrays (batch first), passed by name or positionally."""

    def __init__(self, arrays: Sequence[tuple[str, np.ndarray]], positional: bool) -> None:
        self.arrays = tuple(arrays)
        self.positional = positional

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.arrays]

    @property
    def values(self) -> list[np.ndarray]:
        return [value for _, value in self.arrays]

    def __getitem__(self, item: slice) -> Inputs:
        """The first samples of every input (``inputs[:n]``), as the output check takes them."""
        return Inputs([(name, value[item]) for name, value in self.arrays], self.positional)

    def digest(self) -> str:
        digest = hashlib.sha256()
        for name, value in self.arrays:
            digest.update(f"{name}:{value.dtype}:{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def describe(self) -> str:
        return ", ".join(f"{name} {value.dtype}[{'x'.join(map(str, value.shape))}]" for name, value in self.arrays)


# -------------------------------------------------------------------------------------------------- validation


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_dims(raw: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and k for k in raw):
        raise ModelError(f"dims={raw!r} must map dimension names to sizes, e.g. dims={{'seq': [128, 512]}}")
    out = []
    for name, values in raw.items():
        if name in RESERVED_DIMS or not name.isidentifier():
            raise ModelError(f"dims: {name!r} cannot name a dimension (a cell's JSON params already use "
                             f"{', '.join(sorted(RESERVED_DIMS))}); rename it, e.g. 'seq'")
        values = [values] if _is_int(values) else values
        if not isinstance(values, (list, tuple)) or not values or not all(_is_int(v) and v > 0 for v in values):
            raise ModelError(f"dims[{name!r}]={values!r} must be positive integers, e.g. dims={{{name!r}: [128, 512]}}")
        out.append((name, tuple(dict.fromkeys(values))))
    return tuple(out)


def _parse_one(name: str, raw: object, declared: set[str], graph: InputSpec | None) -> InputSpec:
    where = f"inputs[{name!r}]"
    if not isinstance(raw, Mapping):
        raise ModelError(f"{where}={raw!r} must be a dict, e.g. dict(shape=('seq',), dtype='int64', low=0, high=30522)")
    unknown = set(raw) - set(SPEC_KEYS)
    if unknown:
        raise ModelError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; an input takes {', '.join(SPEC_KEYS)}")
    if "shape" in raw:
        shape = raw["shape"]
        if not isinstance(shape, (tuple, list)) or not all(
                (_is_int(d) and d > 0) or (isinstance(d, str) and d) for d in shape):
            raise ModelError(f"{where}: shape={shape!r} must be one sample's shape: positive integers and names of "
                             "dims, e.g. shape=('seq',) or shape=(3, 224, 224)")
        shape = tuple(shape)
    elif graph is not None:
        shape = graph.shape
    else:
        raise ModelError(f"{where} has no shape; give one sample's shape (the batch comes from the matrix), "
                         "e.g. shape=('seq',) with dims={'seq': [128]}")
    for dim in shape:
        if isinstance(dim, str) and dim not in declared:
            raise ModelError(f"{where}: shape {shape!r} names dimension {dim!r}, which dims= does not declare; "
                             f"add dims={{{dim!r}: [...]}} with its sizes, or write the size as an integer")
    dtype = raw.get("dtype", graph.dtype if graph is not None else "float32")
    if dtype not in DTYPES:
        raise ModelError(f"{where}: unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if graph is not None and dtype != graph.dtype:
        raise ModelError(f"{where}: dtype {dtype!r}, but the ONNX graph declares {graph.dtype!r}; "
                         f"remove dtype= or write dtype={graph.dtype!r}")
    low, high, fill = raw.get("low"), raw.get("high"), raw.get("fill")
    for key, value in (("low", low), ("high", high), ("fill", fill)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ModelError(f"{where}: {key}={value!r} must be a number")
    if fill is not None and (low is not None or high is not None):
        raise ModelError(f"{where}: give fill= (every value the same, e.g. an attention mask of ones) or a range "
                         "low=/high=, not both")
    if dtype in INT_DTYPES:
        for key, value in (("low", low), ("high", high)):
            if value is not None and not _is_int(value):
                raise ModelError(f"{where}: {key}={value!r} must be an integer for dtype {dtype!r}")
    if (low is None) != (high is None) and dtype in FLOAT_DTYPES:
        raise ModelError(f"{where}: give both low= and high= (a uniform range), or neither (standard normal values)")
    lo = 0 if low is None else low
    if high is not None and high <= lo:
        raise ModelError(f"{where}: high={high!r} must exceed low={lo!r} (values are drawn from [low, high))")
    return InputSpec(name=name, shape=shape, dtype=dtype, low=low, high=high, fill=fill)


def parse(inputs: object, dims: object, unit: object, sequence_dim: object,
          graph: Sequence[InputSpec] | None = None, model_file: str = "") -> InputsSpec:
    """The marker's ``inputs=``/``dims=``/``unit=``/``sequence_dim=``, validated; ``graph`` holds an ONNX file's
    own inputs (its inputs= entries, if any, may override range and values, not names). Raises `ModelError`."""
    parsed_dims = _parse_dims(dims)
    declared = {name for name, _ in parsed_dims}
    if unit is None:
        unit = DEFAULT_UNIT
    if not isinstance(unit, str) or not unit.isidentifier():
        raise ModelError(f"unit={unit!r} must be a word naming one sample, e.g. unit='sequence'")
    if sequence_dim is not None and sequence_dim not in declared:
        raise ModelError(f"sequence_dim={sequence_dim!r} is not one of dims= ({', '.join(sorted(declared)) or 'none'})"
                         "; name the declared sequence axis, e.g. sequence_dim='seq' with dims={'seq': [128]}")
    if callable(inputs) and graph is None:
        return InputsSpec(factory=inputs, dims=parsed_dims, unit=unit, sequence_dim=sequence_dim)
    if inputs is None and graph is not None:
        inputs = {}
    if not isinstance(inputs, Mapping) or (not inputs and graph is None):
        raise ModelError(f"inputs={inputs!r} must be a dict of per-sample specs, e.g. inputs={{'input_ids': "
                         "dict(shape=('seq',), dtype='int64', low=0, high=30522)}, or a callable "
                         "(batch, dims, generator) -> tuple | dict of tensors")
    specs: list[InputSpec] = []
    if graph is not None:
        by_name = {g.name: g for g in graph}
        extra = [name for name in inputs if name not in by_name]
        if extra:
            raise ModelError(f"inputs key(s) {', '.join(map(repr, extra))} are not inputs of {model_file} (its "
                             f"inputs: {', '.join(by_name)}); use the graph's input names")
        for g in graph:
            for axis, dim in enumerate(g.shape):
                own = inputs.get(g.name)
                if isinstance(dim, str) and dim not in declared and not (isinstance(own, Mapping) and "shape" in own):
                    raise ModelError(
                        f"{model_file}: input {g.name!r} has dimension {dim!r} (axis {axis + 1}) that is neither the "
                        f"batch (the first axis) nor given in dims=; add dims={{{dim!r}: [...]}} with its sizes"
                    )
            specs.append(_parse_one(g.name, inputs.get(g.name, {}), declared, g))
    else:
        for name, raw in inputs.items():
            if not isinstance(name, str) or not name:
                raise ModelError(f"inputs: key {name!r} must be the input's name (a forward() parameter)")
            specs.append(_parse_one(name, raw, declared, None))
    used = {d for s in specs for d in s.shape if isinstance(d, str)}
    unused = declared - used
    if unused:
        raise ModelError(f"dims {', '.join(sorted(unused))} appear in no input's shape; use them in a shape, e.g. "
                         f"shape=({sorted(unused)[0]!r},), or remove them")
    return InputsSpec(specs=tuple(specs), dims=parsed_dims, unit=unit, sequence_dim=sequence_dim)


def onnx_graph_inputs(path: Path) -> list[InputSpec]:
    """An ONNX file's inputs (initializers excluded): names, dtypes, per-sample shapes with symbolic dims as names.
    The first axis is the batch; it must be dynamic."""
    try:
        import onnx
    except ImportError as exc:
        raise ModelError(f"reading the inputs of {path.name} needs onnx; pip install onnx") from exc
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path.name} is not a readable ONNX model: {type(exc).__name__}: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}
    out = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dtype = _ONNX_ELEM.get(tensor.elem_type)
        if dtype is None:
            raise ModelError(f"{path.name}: input {value.name!r} has ONNX element type {tensor.elem_type}, which "
                             f"inputs cannot generate; supported: {', '.join(DTYPES)}")
        dims: list[int | str] = []
        for axis, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.dim_param:
                dims.append(dim.dim_param)
            else:
                dims.append(f"{value.name}_axis{axis}")
        if not dims or not isinstance(dims[0], str):
            raise ModelError(f"{path.name}: input {value.name!r} has shape {dims}: its first axis must be a dynamic "
                             "batch axis (the matrix varies the batch); export with dynamic_axes={name: {0: 'batch'}}")
        out.append(InputSpec(name=value.name, shape=tuple(dims[1:]), dtype=dtype))
    return out


# -------------------------------------------------------------------------------------------------- generation


def _values(rng: np.random.Generator, spec: InputSpec, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    if spec.fill is not None:
        return np.full(shape, spec.fill, dtype=spec.dtype)
    if spec.dtype in INT_DTYPES:
        low = int(spec.low) if spec.low is not None else 0
        high = int(spec.high) if spec.high is not None else 2  # valid for any vocabulary or mask
        return rng.integers(low, high, size=shape).astype(spec.dtype)
    if spec.low is not None and spec.high is not None:
        values = rng.uniform(spec.low, spec.high, size=shape).astype(np.float32)
    else:
        values = rng.standard_normal(shape, dtype=np.float32)
    values[values == 0] = np.float32(1e-3)  # never zeros: they run measurably faster on some kernels
    return values


def _tile(distinct: np.ndarray, batch: int) -> np.ndarray:
    import numpy as np

    if len(distinct) >= batch:
        return distinct[:batch]
    return np.concatenate([distinct] * -(-batch // len(distinct)))[:batch]


def generate(spec: InputsSpec, batch: int, dims: Mapping[str, int], seed: int) -> Inputs:
    """Seeded inputs for one cell. Each input draws from its own stream, so the first samples are the same at every
    batch; beyond RANDOM_SAMPLES samples a batch repeats its first ones (a kernel's speed does not depend on it)."""
    import numpy as np

    if spec.factory is not None:
        return from_callable(spec.factory, batch, dims, np.random.default_rng(seed))
    distinct = min(batch, RANDOM_SAMPLES)
    arrays = []
    for index, one in enumerate(spec.specs):
        rng = np.random.default_rng([seed, index])
        arrays.append((one.name, _tile(_values(rng, one, (distinct, *one.resolved(dims))), batch)))
    return Inputs(arrays, positional=False)


def _to_numpy(name: str, value: object) -> np.ndarray:
    import numpy as np

    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu()  # type: ignore[attr-defined]
        if str(value.dtype) == "torch.bfloat16":  # type: ignore[attr-defined]
            value = value.float()  # type: ignore[attr-defined]
        value = value.numpy()  # type: ignore[attr-defined]
    if not isinstance(value, np.ndarray):
        raise ModelError(f"inputs callable returned {type(value).__name__} for {name!r}; return numpy arrays or "
                         "torch tensors (batch first)")
    return value


def from_callable(factory: Callable[..., Any], batch: int, dims: Mapping[str, int], rng: Any) -> Inputs:
    where = getattr(factory, "__qualname__", repr(factory))
    try:
        made = factory(batch, dict(dims), rng)
    except Exception as exc:
        raise ModelError(f"inputs callable {where}(batch={batch}, dims={dict(dims)}, generator) raised "
                         f"{type(exc).__name__}: {exc}") from exc
    if isinstance(made, Mapping):
        arrays, positional = [(str(k), _to_numpy(str(k), v)) for k, v in made.items()], False
    elif isinstance(made, (tuple, list)):
        arrays, positional = [(f"input{i}", _to_numpy(f"input{i}", v)) for i, v in enumerate(made)], True
    else:
        raise ModelError(f"inputs callable {where} returned {type(made).__name__}; return a tuple (positional "
                         "inputs) or a dict (by name) of arrays or tensors")
    for name, value in arrays:
        if value.ndim == 0 or value.shape[0] != batch:
            raise ModelError(f"inputs callable {where}: {name!r} has shape {value.shape}; its first axis must be the "
                             f"batch ({batch})")
    return Inputs(arrays, positional)


def unit(case: Any) -> str:
    """What one sample is called in tables (image, sequence, ...)."""
    return case.inputs.unit if case.inputs is not None else DEFAULT_UNIT


def tokens_per_sample(case: Any) -> int | None:
    """The sequence dim's value when the test declares one (``sequence_dim=``): tokens/s = samples/s x this."""
    if case.inputs is None or case.inputs.sequence_dim is None:
        return None
    return dict(case.dims).get(case.inputs.sequence_dim)


def unsupported_reason(case: Any, backend: Any) -> str | None:
    """A cell with several or integer inputs on a backend that runs one float input only: why it is skipped."""
    if case.inputs is None or getattr(backend, "supports_inputs", False):
        return None
    return (f"{case.id}: the {backend.name} backend runs one float input (input_shape=); several or integer inputs "
            "(inputs=) are not implemented for it yet: measure this model with torch, torch-compile or onnxruntime")


# -------------------------------------------------------------------------------------------------- torch


@dataclass
class Packed:
    """Device tensors of one cell's inputs, ready for ``model(*args, **kwargs)``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def check_signature(module: Any, inputs: Inputs, model: str) -> None:
    """Named inputs must be parameters of ``forward`` (unless it takes ``**kwargs``); positional ones must fit."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return
    kinds = {p.kind for p in params.values()}
    if inputs.positional:
        if inspect.Parameter.VAR_POSITIONAL in kinds:
            return
        positional = [p for p in params.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(inputs.arrays) > len(positional):
            raise ModelError(f"model {model!r}: the inputs callable returned {len(inputs.arrays)} positional inputs, "
                             f"but {type(module).__name__}.forward takes {len(positional)} "
                             f"({', '.join(p.name for p in positional)}); return fewer, or a dict by name")
        return
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return
    accepted = [name for name, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [name for name in inputs.names if name not in accepted]
    if unknown:
        raise ModelError(f"model {model!r}: inputs key(s) {', '.join(map(repr, unknown))} are not parameters of "
                         f"{type(module).__name__}.forward ({', '.join(accepted)}); rename the inputs= keys to "
                         "forward's parameter names")


def in_forward_order(module: Any, inputs: Inputs) -> Inputs:
    """Named inputs in the order of ``forward``'s parameters (positional ones as they are)."""
    if inputs.positional:
        return inputs
    try:
        order = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return inputs
    rank = {name: order.index(name) if name in order else len(order) for name in inputs.names}
    return Inputs(sorted(inputs.arrays, key=lambda pair: rank[pair[0]]), positional=False)


def to_torch(inputs: Inputs, device: str, float_dtype: Any) -> Packed:
    """Each array on the device; float inputs in the cell's precision, integer ones as they are."""
    import torch

    def one(value: np.ndarray) -> Any:
        tensor = torch.from_numpy(value).to(device=device)
        return tensor.to(float_dtype) if tensor.is_floating_point() else tensor

    if inputs.positional:
        return Packed(tuple(one(v) for v in inputs.values), {})
    return Packed((), {name: one(v) for name, v in inputs.arrays})


def caller(fn: Any, x: Any) -> Any:
    """What a torch session calls with its bound input: ``fn`` itself for one tensor (today's path, unchanged), else a
    function that unpacks the `Packed` inputs into ``fn``'s arguments."""
    if not isinstance(x, Packed):
        return fn

    def call(packed: Packed) -> Any:
        return fn(*packed.args, **packed.kwargs)

    return call


# -------------------------------------------------------------------------------------------------- outputs


def flatten(out: Any) -> list[Any]:
    """Every tensor of a model's output, in order: a tensor, tuple/list, dict or Hugging Face ``ModelOutput`` (an
    ordered dict whose unset fields are absent), nested; None entries are skipped."""
    if out is None:
        return []
    if isinstance(out, Mapping):
        return [t for value in out.values() for t in flatten(value)]
    if isinstance(out, (tuple, list)):
        return [t for value in out for t in flatten(value)]
    return [out]


def host_outputs(out: Any) -> list[np.ndarray]:
    """The output's tensors on the host as float32 (torch tensors, OrtValues or arrays)."""
    import numpy as np

    arrays = []
    for tensor in flatten(out):
        if hasattr(tensor, "detach"):
            tensor = tensor.detach().float().cpu().numpy()
        elif hasattr(tensor, "numpy") and not isinstance(tensor, np.ndarray):
            tensor = tensor.numpy()
        arrays.append(np.asarray(tensor, dtype=np.float32))
    return arrays


def head(outputs: Any, n: int, batch: int) -> Any:
    """The first ``n`` samples of each output whose first axis is the batch (an array, or a list of them)."""
    if not isinstance(outputs, list):
        return outputs[:n]
    return [o[:n] if o.ndim and o.shape[0] == batch else o for o in outputs]


# -------------------------------------------------------------------------------------------------- onnxruntime


def ort_feeds(session: Any, inputs: Inputs, model: str) -> dict[str, np.ndarray]:
    """Host feeds for every input of the session, each cast to the dtype the graph declares (fp16 exports take fp16
    floats; integer inputs stay integers). Positional inputs go in the graph's order."""
    metas = session.get_inputs()
    names = [m.name for m in metas]
    if inputs.positional:
        if len(inputs.arrays) != len(metas):
            raise ModelError(f"model {model!r}: {len(inputs.arrays)} positional inputs for an ONNX graph with "
                             f"{len(metas)} inputs ({', '.join(names)})")
        pairs = list(zip(names, inputs.values, strict=True))
    else:
        given = dict(inputs.arrays)
        unknown = [n for n in given if n not in names]
        missing = [n for n in names if n not in given]
        if unknown or missing:
            raise ModelError(f"model {model!r}: the ONNX graph's inputs are {', '.join(names)}; "
                             + (f"not in the graph: {', '.join(unknown)}; " if unknown else "")
                             + (f"not given: {', '.join(missing)}; " if missing else "")
                             + "make inputs= name the graph's inputs")
        pairs = [(n, given[n]) for n in names]
    dtypes = {m.name: _ORT_TYPES.get(m.type) for m in metas}
    return {name: value.astype(dtypes[name]) if dtypes[name] else value for name, value in pairs}


# -------------------------------------------------------------------------------------------------- ONNX export


def dynamic_axes(spec: InputsSpec, inputs: Inputs) -> dict[str, dict[int, str]]:
    """Each input's dynamic axes: the batch (axis 0) and every named dim of its spec (a callable's inputs: only the
    batch, and its export is keyed by the dims' values)."""
    named = {s.name: s.shape for s in spec.specs}
    out: dict[str, dict[int, str]] = {}
    for name in inputs.names:
        axes = {0: "batch"}
        for axis, dim in enumerate(named.get(name, ())):
            if isinstance(dim, str):
                axes[axis + 1] = dim
        out[name] = axes
    return out


def _positional(packed: Packed) -> tuple[Any, ...]:
    return (*packed.args, *packed.kwargs.values())


def _Positional(net: Any, inputs: Inputs) -> Any:  # noqa: N802 - a module class made on demand (torch is lazy)
    """``net`` behind a forward that takes every input positionally in ``inputs``' order and passes named ones by
    keyword: the TorchScript exporter's own keyword handling fills forward's other parameters positionally (BERT:
    "got multiple values for argument 'use_cache'")."""
    import torch

    names = None if inputs.positional else inputs.names

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *args: Any) -> Any:
            return self.net(*args) if names is None else self.net(**dict(zip(names, args, strict=True)))

    return Positional()


def export_onnx_inputs(module: Any, inputs: Inputs, dynamic: Mapping[str, Mapping[int, str]], precision: str,
                       path: Path, model: str) -> None:
    """Export with every input named as in ``inputs`` (forward's keyword arguments, or ``input0..`` positionally),
    dynamic axes for the batch and the named dims, every output tensor named ``output0..`` with a dynamic batch.
    One export serves every batch and every value of the named dims.

    fp16: the module is cast and exported as it is; when that graph is mistyped (the TorchScript exporter leaves
    some constants of a half-precision Hugging Face BERT in fp32: "LayerNormalization ... bound to different
    types", which onnxruntime refuses to load), the fp32 export is converted to fp16 instead, with onnxruntime's
    own converter (`onnxruntime.transformers.float16`, as its transformer optimizer does). The cache only ever holds
    a checked file."""
    from .artifacts import atomic

    unchecked = path.with_name(f"{path.stem}.unchecked.onnx")
    try:
        _export_inputs(module, inputs, dynamic, precision, unchecked, model)
        mistyped = onnx_type_error(unchecked) if precision == "fp16" else ""
        if not mistyped:
            unchecked.replace(path)
            return
        from . import progress

        progress.report(f"the fp16 export of {model} is mistyped ({mistyped[:120]}); converting its fp32 export")
        _export_inputs(module, inputs, dynamic, "fp32", unchecked, model)
        atomic.write_bytes(path, fp32_onnx_to_fp16(unchecked).SerializeToString())
    finally:
        unchecked.unlink(missing_ok=True)


def _export_inputs(module: Any, inputs: Inputs, dynamic: Mapping[str, Mapping[int, str]], precision: str,
                   path: Path, model: str) -> None:
    import torch

    from .artifacts.models import cast_copy, onnx_export

    net, dtype = cast_copy(module, precision)
    check_signature(net, inputs, model)
    inputs = in_forward_order(net, inputs)  # the traced graph's inputs follow forward's order, and so must the names
    example = to_torch(inputs[:2], "cpu", dtype)
    with torch.no_grad():
        outputs = len(flatten(caller(net, example)(example)))
    output_names = [f"output{i}" for i in range(outputs)]
    axes = {**{name: dict(a) for name, a in dynamic.items()}, **{name: {0: "batch"} for name in output_names}}
    onnx_export(_Positional(net, inputs), _positional(example), path, list(inputs.names), output_names, axes,
                f"{type(module).__name__} ({inputs.describe()})")


def onnx_type_error(path: Path) -> str:
    """Why the ONNX file at ``path`` does not type-check (ONNX's full check, with strict shape and type inference:
    what onnxruntime also refuses at load), or "" when it does."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return str(exc).strip().splitlines()[0]
    return ""


def fp32_onnx_to_fp16(path: Path) -> Any:
    """The fp32 model at ``path`` converted to fp16, inputs and outputs included (onnxruntime's converter; ops it
    cannot run in fp16 stay fp32 behind casts)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(onnx.load(str(path)), keep_io_types=False)
