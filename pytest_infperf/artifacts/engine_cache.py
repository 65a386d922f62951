"""What the TensorRT family shares on disk: content digests, cache keys, atomic writes, the timing cache file and the
shape profile that one engine serves.

Pure Python (hashlib, json, os): nothing here imports torch, TensorRT or ONNX Runtime, so every rule about when a
cached engine is reused is tested without them. An engine is only valid for the model bytes, shape profile,
precision, builder options, GPU and library versions it was built with; the key hashes all of them, so a change of
any one is a cache miss (a rebuild), never a silently reused engine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_bytes

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime: a model file is hashed once per process)."""
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[memo] = digest.hexdigest()
    return _DIGESTS[memo]


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hash of everything that shapes a cached artifact (order-independent, JSON-normalised)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:40]


def write_key_file(path: Path, parts: dict[str, Any]) -> None:
    """The parts of a key in readable form next to the artifact, so a cache folder explains itself."""
    write_bytes(path, (json.dumps(parts, sort_keys=True, indent=1, default=str) + "\n").encode())


def parse_version(text: str) -> tuple[int, ...]:
    """'10.3.0.26' -> (10, 3, 0, 26); '2.5.0+cu124' -> (2, 5, 0); leading digits of each dotted part."""
    out = []
    for part in str(text).split("+")[0].split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        out.append(int(digits.group()))
    return tuple(out)


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class ShapeProfile:
    """The (min, opt, max) input shapes one engine is built for.

    ``sweep``: batch 1 up to the largest batch of the selected sweep, tuned for that largest batch (opt = max, the
    convention of Triton's max_batch_size), so every batch of the sweep runs on one engine and nothing is rebuilt
    between cells. ``cell``: min = opt = max = the cell's batch, one engine per batch, each tuned for its own batch.
    The profile is part of the engine's cache key and of the recorded cell details: numbers measured on different
    profiles are never mixed silently.
    """

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    @classmethod
    def for_cell(cls, input_shape: tuple[int, ...], batch: int, max_batch: int, mode: str = "sweep") -> ShapeProfile:
        if mode == "cell":
            shape = (batch, *input_shape)
            return cls(shape, shape, shape)
        if mode != "sweep":
            raise ValueError(f"unknown profile mode {mode!r}; use sweep or cell")
        top = max(batch, max_batch)
        return cls((1, *input_shape), (top, *input_shape), (top, *input_shape))

    @classmethod
    def for_named_input(cls, spec_shape: tuple[int | str, ...] | None, cell_shape: tuple[int, ...],
                        dims: Mapping[str, Sequence[int]], max_batch: int, mode: str = "sweep") -> ShapeProfile:
        """One input of several (``inputs=``): axis 0 the batch as `for_cell`; a named dim from the least to the
        largest of the test's values for it (``dims``), tuned for the largest (opt = max, as for the batch), so one
        engine serves every cell of the test; fixed dims as they are. ``spec_shape`` is the input's per-sample shape
        with dim names (None for a callable's inputs: their dims stay the cell's). ``cell``: the cell's own shape."""
        if mode == "cell":
            return cls(cell_shape, cell_shape, cell_shape)
        if mode != "sweep":
            raise ValueError(f"unknown profile mode {mode!r}; use sweep or cell")
        per_sample = spec_shape if spec_shape is not None else cell_shape[1:]
        low, high = [1], [max(cell_shape[0], max_batch)]
        for axis, dim in enumerate(per_sample):
            values = list(dims.get(dim, ())) if isinstance(dim, str) else []
            now = cell_shape[axis + 1]
            low.append(min([now, *values]))
            high.append(max([now, *values]))
        return cls(tuple(low), tuple(high), tuple(high))

    def covers(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.min) and all(
            lo <= d <= hi for lo, d, hi in zip(self.min, shape, self.max, strict=True)
        )

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def ort_options(self, input_name: str) -> dict[str, str]:
        """ONNX Runtime TensorRT EP's explicit profile options ('input:1x3x224x224', trtexec's --minShapes format)."""
        return ort_profile_options(((input_name, self),))


def ort_profile_options(profiles: Sequence[tuple[str, ShapeProfile]]) -> dict[str, str]:
    """ONNX Runtime TensorRT EP's explicit profile options for one or several inputs ('ids:1x128,mask:1x128')."""

    def joined(which: str) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, getattr(p, which)))}" for name, p in profiles)

    return {"trt_profile_min_shapes": joined("min"), "trt_profile_opt_shapes": joined("opt"),
            "trt_profile_max_shapes": joined("max")}


def input_profiles(case: Any, inputs: Any, max_batch: int, mode: str) -> tuple[tuple[str, ShapeProfile], ...]:
    """A profile per input of a cell with several inputs (``case.inputs``: `inputs.InputsSpec`; ``inputs``: the
    cell's `inputs.Inputs`), in the order of its arrays (the export's input order): `ShapeProfile.for_named_input`."""
    shapes = {spec.name: spec.shape for spec in case.inputs.specs}
    dims = {name: list(values) for name, values in case.inputs.dims}
    return tuple((name, ShapeProfile.for_named_input(shapes.get(name), tuple(array.shape), dims, max_batch, mode))
                 for name, array in inputs.arrays)


class TimingCacheFile:
    """TensorRT's layer-timing cache persisted between sessions: one file per GPU and TensorRT version (the cache is
    only valid for the device and version that produced it). Missing or unreadable means an empty cache."""

    def __init__(self, folder: Path, gpu: dict[str, str], tensorrt_version: str) -> None:
        self.parts = {"kind": "tensorrt-timing-cache", "gpu": gpu, "tensorrt": tensorrt_version}
        self.path = folder / f"timing-{slug(gpu.get('name', 'gpu'))}-{cache_key(self.parts)}.cache"

    def load(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError:
            return b""

    def save(self, data: bytes) -> None:
        if data:
            write_bytes(self.path, data)


def gpu_identity(device: str) -> dict[str, str]:
    """What makes an engine or timing cache specific to the device: name and compute capability (torch, lazily)."""
    if device != "cuda":
        return {"name": device}
    import torch

    index = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return {"name": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}"}
