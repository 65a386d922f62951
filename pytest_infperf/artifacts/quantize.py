"""int8 Q/DQ models by ONNX Runtime's static quantization, calibrated on seeded random inputs, cached on disk.

One Q/DQ model serves every int8 cell: onnxruntime on CPU and on the CUDA EP run it, and TensorRT (natively or
through ONNX Runtime's TensorRT EP) builds its int8 engine from it (explicit quantization). Its layout is the one
TensorRT's ONNX parser takes (the settings of Hugging Face Optimum's TensorRT quantization config): int8 activations
and weights with zero points 0 (symmetric), per-output-channel weight scales (axis 0, Conv and Gemm alike), weights
kept in fp32 behind their own QuantizeLinear/DequantizeLinear pair (``AddQDQPairToWeight``; TensorRT 8 rejected a
DequantizeLinear fed by an int8 constant), biases left in fp32 (``QuantizeBias=False``; TensorRT rejects an int32
DequantizeLinear) and one Q/DQ pair per consumer (``DedicatedQDQPair``). ONNX Runtime's CPU provider fuses this layout
into the same int8 kernels (QLinearConv, QGemm) as its default one: measured identical outputs and speed here.

Weights use 7 bits (``reduce_range``). Measured on this project's AMD EPYC (AVX2, no VNNI): with 8-bit weights ONNX
Runtime's fused int8 CPU kernels saturate their 16-bit intermediate sums and the output is wrong (max relative error
against fp32 0.23 on ResNet-18, top-1 agreement 0 %; 0.13 on the tests' tiny CNN), while the same Q/DQ graph run
unfused (Q and DQ as float ops) is within 0.021. With 7-bit weights the fused kernels agree: 0.025-0.032 on
ResNet-18, 0.005 on the tiny CNN, top-1 agreement 100 % (batches 1-32, three input seeds). ONNX Runtime's
documentation recommends reduce_range on AVX2/AVX-512 without VNNI for this reason; on other CPUs and on GPUs it
only costs a little precision.

Calibration: ``CALIBRATION_BATCHES`` batches of ``CALIBRATION_BATCH`` seeded standard-normal samples of the model's
input shape (the distribution the cells are measured on, from a different seed than any cell's input), MinMax. The
cache key holds the fp32 model's content digest (which holds the fp32 export's own key), every calibration setting
and the ONNX Runtime version, so a change of any of them quantizes again.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import progress
from .atomic import write_bytes
from .engine_cache import cache_key, file_digest

Feeds = Callable[[int], dict[str, Any]]  # calibration batch index -> a feed per graph input (several inputs)

CALIBRATION_BATCHES = 8
CALIBRATION_BATCH = 8
CALIBRATION_SEED_OFFSET = 7_919  # calibrate on other samples than the cells' inputs (seeded from the same seed)


@dataclass(frozen=True)
class Calibration:
    """How the Q/DQ model is made; every field is part of its cache key."""

    seed: int = 0
    batches: int = CALIBRATION_BATCHES
    batch: int = CALIBRATION_BATCH
    method: str = "MinMax"
    per_channel: bool = True
    reduce_range: bool = True
    symmetric: bool = True
    preprocess: bool = True  # ONNX Runtime's quant_pre_process (shape inference, per-layer initializers)
    tensorrt_layout: bool = True  # fp32 weights with Q/DQ pairs, fp32 biases, a dedicated pair per consumer


def qdq_path(fp32_path: Path, input_shape: tuple[int, ...] | str, cache_dir: Path, calibration: Calibration) -> Path:
    """``input_shape``: one float input's per-sample shape, or the signature of several inputs (`inputs.InputsSpec`)."""
    import onnxruntime

    parts = {
        "kind": "int8-qdq",
        "fp32": file_digest(fp32_path),
        "input_shape": input_shape if isinstance(input_shape, str) else list(input_shape),
        "calibration": asdict(calibration),
        "onnxruntime": onnxruntime.__version__,
    }
    stem = fp32_path.stem.removesuffix("-fp32")
    return cache_dir / f"{cache_key(parts)}-{stem}-int8-qdq.onnx"


def cached_qdq(
    fp32_path: Path, input_shape: tuple[int, ...] | str, cache_dir: Path, calibration: Calibration,
    feeds: Feeds | None = None,
) -> tuple[Path, bool]:
    """The Q/DQ model for this fp32 model and calibration, and whether it was quantized now (a cache miss).
    ``feeds``: the calibration batches of a model with several or integer inputs (``input_shape`` is then their
    signature); without it, seeded standard-normal batches of its one float input."""
    path = qdq_path(fp32_path, input_shape, cache_dir, calibration)
    if path.is_file():
        return path, False
    quantize_qdq(fp32_path, path, input_shape, calibration, feeds)
    return path, True


def calibration_feeds(spec: Any, dims: dict[str, int], seed: int) -> Feeds:
    """int8 calibration batches of a model with several or integer inputs: the cell's own input specs
    (`inputs.InputsSpec`) at the calibration batch size, drawn from other seeds than any cell's inputs, floats as the
    fp32 graph takes them."""
    from ..inputs import generate

    def feeds(index: int) -> dict[str, Any]:
        generated = generate(spec, CALIBRATION_BATCH, dims, seed + CALIBRATION_SEED_OFFSET + index)
        return {name: value.astype("float32") if value.dtype.kind == "f" else value
                for name, value in generated.arrays}

    return feeds


def input_name(model_path: Path) -> str:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    names = [inp.name for inp in model.graph.input if inp.name not in initializers]
    if len(names) != 1:
        raise ValueError(f"{model_path.name}: int8 calibration feeds one input; the model has {names}")
    return names[0]


def _reader(fp32_path: Path, input_shape: tuple[int, ...] | str, calibration: Calibration,
            feeds: Feeds | None) -> Any:
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    if feeds is None:
        name = input_name(fp32_path)
        rng = np.random.default_rng(calibration.seed + CALIBRATION_SEED_OFFSET)
        assert not isinstance(input_shape, str)
        shape = (calibration.batch, *input_shape)

        def feeds(index: int) -> dict[str, Any]:
            return {name: rng.standard_normal(shape, dtype=np.float32)}

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._next = 0

        def get_next(self) -> dict[str, Any] | None:
            if self._next == calibration.batches:
                return None
            self._next += 1
            return feeds(self._next - 1)

    return Batches()


def quantize_qdq(fp32_path: Path, out_path: Path, input_shape: tuple[int, ...] | str, calibration: Calibration,
                 feeds: Feeds | None = None) -> None:
    """Static quantization to a Q/DQ model; written atomically into the cache."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    reader = _reader(fp32_path, input_shape, calibration, feeds)
    progress.report("quantizing to int8 (ONNX Runtime static quantization, calibrating; cached afterwards)")
    with tempfile.TemporaryDirectory(prefix="infperf-qdq-") as tmp:
        source = fp32_path
        if calibration.preprocess:
            source = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32_path), str(source))
        target = Path(tmp) / "int8.onnx"
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger for every model
        try:
            quantize_static(
                str(source), str(target), reader,
                quant_format=QuantFormat.QDQ, per_channel=calibration.per_channel,
                reduce_range=calibration.reduce_range, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, calibration.method),
                extra_options={"ActivationSymmetric": calibration.symmetric,
                               "WeightSymmetric": calibration.symmetric,
                               "AddQDQPairToWeight": calibration.tensorrt_layout,
                               "QuantizeBias": not calibration.tensorrt_layout,
                               "DedicatedQDQPair": calibration.tensorrt_layout},
            )
        finally:
            quiet.setLevel(level)
        write_bytes(out_path, target.read_bytes())


def has_qdq(model_path: Path) -> bool:
    """Whether the ONNX model carries explicit quantization (QuantizeLinear/DequantizeLinear nodes)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    return {"QuantizeLinear", "DequantizeLinear"} <= ops
