"""The measurement matrix: the frozen `Case` (one cell) and parsing of the selection options into cells."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .inputs import InputsSpec

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
    concurrency: int = 1  # concurrent users, each with its own session
    max_batch: int = 0  # > 0: not a timed cell but the search for the largest batch up to this one
    dims: tuple[tuple[str, int], ...] = ()  # named dims' values (inputs.py), a cell axis each: ids get -seq128
    inputs: InputsSpec | None = None  # several/integer inputs (inputs.py); None: one float input of input_shape

    @property
    def id(self) -> str:
        batch = "max" if self.max_batch else str(self.batch)
        base = f"{self.backend}-{self.device}-{self.precision}-b{batch}"
        if self.shape_in_id:
            base += f"-{'x'.join(map(str, self.input_shape))}"
        base += "".join(f"-{name}{value}" for name, value in self.dims)
        return f"{base}-c{self.concurrency}" if self.concurrency > 1 else base

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
    concurrency: tuple[int, ...] = (1,)


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


def parse_batches(flag: str, raw: str | Sequence[str], what: str = "batch") -> tuple[int, ...]:
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
                f"{flag}: {what} {value} is not positive; give positive integers, e.g. {flag}=1,8,32"
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


def expand(selection: Selection, input_shapes: Sequence[tuple[int, ...]], max_batch: int = 0) -> list[Case]:
    """All cells of one test, in a stable order: backend, device, precision, batch, shape, concurrency.

    With ``max_batch``, one search cell per backend x device x precision x shape replaces the batch and concurrency
    axes."""
    several = len(input_shapes) > 1
    if max_batch:
        return [
            Case(backend=b, device=d, precision=p, batch=1, input_shape=tuple(s), shape_in_id=several,
                 max_batch=max_batch)
            for b, d, p, s in itertools.product(
                selection.backends, selection.devices, selection.precisions, input_shapes
            )
        ]
    return [
        Case(backend=b, device=d, precision=p, batch=n, input_shape=tuple(s), shape_in_id=several, concurrency=c)
        for b, d, p, n, s, c in itertools.product(
            selection.backends, selection.devices, selection.precisions, selection.batches, input_shapes,
            selection.concurrency,
        )
    ]
