"""The measurement matrix: the frozen `Case` (one cell) and parsing of the selection options into cells."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
AUTO_DEVICE = "auto"


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: what is measured, nothing about how."""

    backend: str
    device: str
    precision: str
    batch: int
    input_shape: tuple[int, ...]
    shape_in_id: bool = False  # set when a test sweeps several input shapes

    @property
    def id(self) -> str:
        base = f"{self.backend}-{self.device}-{self.precision}-b{self.batch}"
        return f"{base}-{'x'.join(map(str, self.input_shape))}" if self.shape_in_id else base

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return (self.batch, *self.input_shape)


@dataclass(frozen=True)
class Selection:
    """What the user selected on the command line or in ini; every field already validated."""

    backends: tuple[str, ...]
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    batches: tuple[int, ...]


def _split(raw: str | Sequence[str]) -> list[str]:
    items = raw if not isinstance(raw, str) else [raw]
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in str(item).replace(" ", ",").split(",") if part.strip())
    return out


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def parse_choices(flag: str, raw: str | Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    items = _split(raw)
    if not items:
        raise pytest.UsageError(f"{flag}: empty list; choose from {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise pytest.UsageError(f"{flag}: unknown {item!r}; choose from {', '.join(allowed)}")
    return _dedupe(items)


def parse_batches(flag: str, raw: str | Sequence[str]) -> tuple[int, ...]:
    items = _split(raw)
    if not items:
        raise pytest.UsageError(f"{flag}: empty list; give positive integers, e.g. {flag}=1,8,32")
    batches: list[int] = []
    for item in items:
        try:
            value = int(item, 10)
        except ValueError:
            raise pytest.UsageError(
                f"{flag}: {item!r} is not an integer; give positive integers, e.g. {flag}=1,8,32"
            ) from None
        if value <= 0:
            raise pytest.UsageError(
                f"{flag}: batch {value} is not positive; give positive integers, e.g. {flag}=1,8,32"
            )
        batches.append(value)
    return tuple(dict.fromkeys(batches))


def resolve_devices(devices: tuple[str, ...], gpu_present: bool) -> tuple[str, ...]:
    """``auto`` means the GPU when one is visible, else the CPU."""
    out: list[str] = []
    for device in devices:
        if device == AUTO_DEVICE:
            out.append("cuda" if gpu_present else "cpu")
        else:
            out.append(device)
    return _dedupe(out)


def expand(selection: Selection, input_shapes: Sequence[tuple[int, ...]]) -> list[Case]:
    """All cells of one test, in a stable order: backend, device, precision, batch, shape."""
    several = len(input_shapes) > 1
    return [
        Case(backend=b, device=d, precision=p, batch=n, input_shape=tuple(s), shape_in_id=several)
        for b, d, p, n, s in itertools.product(
            selection.backends, selection.devices, selection.precisions, selection.batches, input_shapes
        )
    ]
