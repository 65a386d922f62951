"""The one measuring loop: cold first call, warm-up until the time settles, then amortised blocks of calls.

Everything that reads time goes through a `BlockTimer`, so the loop is the same on CPU and GPU (a GPU timer only adds
a device synchronisation or CUDA events) and tests drive it with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Clock(Protocol):
    def __call__(self) -> float:
        """Monotonic seconds."""
        ...


class BlockTimer(Protocol):
    """Times ``n`` back-to-back calls of ``fn`` and returns the elapsed seconds of the whole block."""

    def time_block(self, fn: Callable[[], object], n: int) -> float: ...


@dataclass(frozen=True)
class SyncedClockTimer:
    """Host clock around a block, with the device drained before the start and the end (no sync per call)."""

    clock: Clock = time.perf_counter
    sync: Callable[[], None] = lambda: None

    def time_block(self, fn: Callable[[], object], n: int) -> float:
        self.sync()
        start = self.clock()
        for _ in range(n):
            fn()
        self.sync()
        return self.clock() - start


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how often to measure. Defaults suit a CPU; GPU runs shorten ``min_block_time`` less."""

    warmup_min_calls: int = 3
    warmup_max_calls: int = 200
    warmup_min_time: float = 0.1
    warmup_max_time: float = 10.0
    settle_window: int = 3
    settle_tolerance: float = 0.05
    min_block_time: float = 0.005
    min_rounds: int = 5
    max_rounds: int = 10_000
    max_time: float = 1.0


@dataclass(frozen=True)
class Timing:
    """Raw outcome of the loop. ``samples`` are seconds per call, one per block (round)."""

    samples: tuple[float, ...]
    block_size: int
    first_call: float
    warmup_calls: int
    warmup_time: float
    warmup_settled: bool
    measure_time: float

    @property
    def rounds(self) -> int:
        return len(self.samples)


def _settled(times: list[float], window: int, tolerance: float) -> bool:
    if len(times) < window:
        return False
    tail = np.asarray(times[-window:])
    med = float(np.median(tail))
    return med > 0 and float(np.max(np.abs(tail - med))) <= tolerance * med


def measure(
    fn: Callable[[], object],
    timer: BlockTimer,
    timing_policy: TimingPolicy,
    between_blocks: Callable[[], None] | None = None,
) -> Timing:
    """Measure ``fn`` (one inference on prepared inputs): first call, warm-up, then timed blocks.

    ``between_blocks`` runs after each timed block, outside it (the clock sampler reads NVML there)."""
    first_call = timer.time_block(fn, 1)

    warm_times: list[float] = []
    settled = False
    while True:
        warm_times.append(timer.time_block(fn, 1))
        elapsed = sum(warm_times)
        settled = _settled(warm_times, timing_policy.settle_window, timing_policy.settle_tolerance)
        enough = len(warm_times) >= timing_policy.warmup_min_calls and elapsed >= timing_policy.warmup_min_time
        capped = len(warm_times) >= timing_policy.warmup_max_calls or elapsed >= timing_policy.warmup_max_time
        if (enough and settled) or capped:
            break

    per_call = float(np.median(warm_times[-timing_policy.settle_window :]))
    block = max(1, math.ceil(timing_policy.min_block_time / per_call)) if per_call > 0 else 1

    samples: list[float] = []
    spent = 0.0
    while len(samples) < timing_policy.max_rounds:
        elapsed = timer.time_block(fn, block)
        spent += elapsed
        samples.append(elapsed / block)
        if between_blocks is not None:
            between_blocks()
        if len(samples) >= timing_policy.min_rounds and spent >= timing_policy.max_time:
            break

    return Timing(
        samples=tuple(samples),
        block_size=block,
        first_call=first_call,
        warmup_calls=len(warm_times),
        warmup_time=sum(warm_times),
        warmup_settled=settled,
        measure_time=spent,
    )


class CudaEventTimer:
    """CUDA events around a block on the current stream: device time, with the host's enqueue time kept beside it.

    The host enqueue time of a block (clock read before the first launch and after the last, before waiting) tells
    whether a cell is launch-bound: when enqueueing takes about as long as the device work, the GPU is waiting on the
    host, and the number measures the host path (as trtexec's enqueue-time diagnosis does).
    """

    def __init__(self, clock: Clock = time.perf_counter) -> None:
        import torch

        self._torch = torch
        self._clock = clock
        self.host_enqueue: list[float] = []  # seconds per call, one entry per block

    def time_block(self, fn: Callable[[], object], n: int) -> float:
        torch = self._torch
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.current_stream().synchronize()
        host_start = self._clock()
        start.record()
        for _ in range(n):
            fn()
        end.record()
        self.host_enqueue.append((self._clock() - host_start) / n)
        end.synchronize()
        return start.elapsed_time(end) / 1e3
