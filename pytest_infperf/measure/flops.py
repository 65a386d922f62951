"""FLOPs of one image's forward pass, counted once per model and input shape with torch's FLOP counter.

``torch.utils.flop_counter.FlopCounterMode`` counts the matrix work (convolutions, matmuls, attention) and counts a
multiply-add as 2 FLOPs; element-wise ops (ReLU, batch norm, additions) are not counted, as in fvcore and most
papers' figures. ResNet-18 at 3x224x224 counts 3.64 GFLOP (1.82 GMAC).

The count runs the fp32 module at batch 1 with its weights and input replaced by meta tensors (shapes only, no
arithmetic, no copy of the weights: ~40 ms for ResNet-18 on a 2-core CPU, where a real CPU forward under the
counter takes ~0.8 s). A model whose forward needs real values (data-dependent control flow, tensors made on the CPU
inside ``forward``) is counted with a real CPU forward instead. It runs outside any timed block, and the result is
cached on the `ModelSource`, so each model and shape pays it once.

A model with several or integer inputs (``inputs=``, e.g. token ids and an attention mask) is counted with a real
CPU forward on one generated sample (`flops_per_sample`): the values must be valid (token ids in the vocabulary).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ..artifacts.models import ModelSource
from ..errors import ModelError
from ..inputs import InputsSpec


def flops_per_image(source: ModelSource, input_shape: tuple[int, ...]) -> float | None:
    """FLOPs of one sample's forward pass; None for an ONNX file, without torch, or when the count fails."""
    key = tuple(input_shape)
    if key not in source.flops:
        source.flops[key] = _count(source, key)
    return source.flops[key]


def flops_per_sample(source: ModelSource, spec: InputsSpec, dims: Mapping[str, int], seed: int) -> float | None:
    """FLOPs of one sample's forward pass of a model with several or integer inputs, at these named dims (a
    sequence length changes them); None for an ONNX file, without torch, or when the count fails."""
    key = ("inputs", spec.signature(dims), *sorted(dims.items()))
    if key not in source.flops:
        source.flops[key] = _count(source, key, lambda torch, module: _count_inputs(torch, module, spec, dims, seed))
    return source.flops[key]


def _count_inputs(torch: Any, module: Any, spec: InputsSpec, dims: Mapping[str, int], seed: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from ..inputs import caller, generate, to_torch

    packed = to_torch(generate(spec, 1, dims, seed), "cpu", torch.float32)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        caller(module, packed)(packed)
    return float(counter.get_total_flops())


def _count(source: ModelSource, input_shape: tuple[Any, ...], only: Any = None) -> float | None:
    """The first count that works: ``only`` (several inputs: its own count), else on meta tensors of
    ``input_shape``, else a real CPU forward."""
    if not source.is_torch:
        return None  # an .onnx file: no torch module to run
    # A factory that returns an nn.Module has imported torch by the time its cell ran; when nothing did, the model is
    # not a torch module, and importing torch just to find that out would cost seconds (or fail where it is missing).
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        module = source.torch_module()
    except ModelError:
        return None
    counts = (only,) if only is not None else (lambda t, m: _count_on_meta(t, m, input_shape),
                                                lambda t, m: _count_on_cpu(t, m, input_shape))
    for count in counts:
        try:
            total = count(torch, module)
        except Exception:
            # the count is informational: a model the counter cannot run keeps its timings, shown with FLOPs "-"
            continue
        return total if total > 0 else None  # nothing countable (element-wise only) is "unknown", not zero work
    return None


def _count_on_meta(torch: Any, module: Any, input_shape: tuple[int, ...]) -> float:
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
    sample = torch.empty((1, *input_shape), device="meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        functional_call(module, meta, (sample,))
    return float(counter.get_total_flops())


def _count_on_cpu(torch: Any, module: Any, input_shape: tuple[int, ...]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    sample = torch.randn((1, *input_shape), generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(sample)
    return float(counter.get_total_flops())
