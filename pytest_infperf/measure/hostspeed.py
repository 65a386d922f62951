"""How fast this process's host launches GPU work right now: a tiny probe after each timed block of a CUDA cell
(`LaunchProbe`); how fast the host moves memory right now, after the timed blocks of a CPU cell (`MemoryProbe`).

A launch-bound cell's time is the host's time to enqueue its kernels, and on the lent H200 that host speed is
mostly a property of the process: of 8 fresh processes, 2 ran ResNet-18 eager fp16 b16 at 2.5-2.9 ms per call and 6
at 1.7-2.2 ms, and the probe below read 8.9-10.7 us per launch in the slow ones and 7.0-7.9 us in the fast ones
(model time / probe time 236-289 in every process; ``benchmarks/host_probe.py``). The gate divides each timed block
of a launch-bound cell by the probe taken right after it, so a session that drew slow processes is not a regression
and a model that launches 25 % more work is. (A probe once per repeat, after its timed blocks, was tried first
on the H200: the mode sometimes changed in between, 2.80 ms with a fast probe and 1.54 ms with a slow one.) A cell
that is device-bound when the host is fast is over-corrected by the division; the gate keeps the raw verdict then
(``compare.judge.host_judged``). A CPU cell also records how many cores other processes kept busy during its timed
blocks (`OtherCpu`): on a small machine that, not the model, is what moves a multi-threaded cell between sessions.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable, Sequence

import numpy as np

LAUNCHES = 200  # per probe: ~1.4 ms at 7 us per launch, taken after each timed block


class BlockProbe:
    """A reading taken after each timed block (``timing.measure``'s ``between_blocks``), kept per block; ``KIND``
    names what it reads, stored beside the readings."""

    KIND = ""

    def __init__(self) -> None:
        self.per_block: list[float] = []

    def aligned(self, samples: int) -> tuple[float, ...]:
        """One probe per timed block, or none at all."""
        return tuple(self.per_block) if len(self.per_block) == samples else ()


class LaunchProbe(BlockProbe):
    """Seconds per tiny CUDA launch (an in-place add on one element, ``LAUNCHES`` of them between two synchronizes),
    read after each timed block (``timing.measure``'s ``between_blocks``), so every sample has the host speed of its
    own moment beside it: the host mode can change within a process, between one block and the next. Without torch
    or CUDA it reads nothing."""

    KIND = "launch"

    def __init__(self) -> None:
        super().__init__()
        self._x = None
        try:
            import torch

            if torch.cuda.is_available():
                self._torch = torch
                self._x = torch.zeros(1, device="cuda")
        except Exception:  # a probe must never fail a cell: no figure, no normalisation
            self._x = None

    def __call__(self) -> None:
        if self._x is None:
            return
        torch, x = self._torch, self._x
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(LAUNCHES):
            x.add_(1.0)
        torch.cuda.synchronize()
        self.per_block.append((time.perf_counter() - start) / LAUNCHES)


MEMORY_PROBE_MIN_MIB = 64  # the streamed copy's array: at least this, and twice the last-level cache ...
MEMORY_PROBE_MAX_MIB = 512  # ... but no more (a server CPU with a huge L3)
MEMORY_PROBE_SMALL_MIB = 4  # the cached copy's array: beyond the core's L2, within the shared L3
MEMORY_PROBE_SMALL_COPIES = 10
MEMORY_PROBE_READINGS = 3  # per repeat, after its last timed block


def last_level_cache_mib() -> float:
    """The CPU's last-level cache in MiB (Linux ``sysconf``; 32 where it cannot be read, as on some VMs)."""
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
    except (ValueError, OSError, AttributeError):
        size = 0
    return size / 2**20 if size and size > 0 else 32.0


class MemoryProbe(BlockProbe):
    """How fast this host moves memory right now, read right after a CPU cell's last timed block: the seconds of one
    copy of an array twice the last-level cache (memory bandwidth) and of ``MEMORY_PROBE_SMALL_COPIES`` copies of a
    4 MiB array (the shared cache), combined as their geometric mean; ``MEMORY_PROBE_READINGS`` readings (~10 ms each
    on this project's VM), pooled, given to every block. Never between timed blocks: its copies evict the caches, and
    when it read every 0.2 s between blocks the block right after a reading ran 4.9 % slower than its repeat's median
    for torch and 1.2 % for onnxruntime (CI's calibration files, 54 such blocks each).

    Why these two: on this project's 2-core CI VM whole sessions ran 6-27 % slower than others with nothing else
    running inside the VM, in episodes of one to several fresh processes (16-80 s). In 116 fresh processes that timed
    ResNet-18 64x64 (torch and onnxruntime, b1 and b8, one thread) beside five probes (docs/results/cpu/memory-probe/),
    the mean of the streamed and the cached copy moved with the cells most (r = 0.74-0.78 over the processes), while
    in-core arithmetic (the earlier CPU probes' kind, kept in L1) moved least with them (r = 0.19-0.49): the slow
    episodes are mostly a neighbour on the host's memory and shared cache. Recorded, **not used by the gate**
    (``compare.judge.host_probe``): two readings per repeat are too few (one cell's ratio to the save 0.84-1.22 in
    CI's A/A sessions), and judged with it CI cleared a real 1.25x slowdown. Arrays are allocated at the first reading
    (the memory sampler is still paused then) and freed by ``close``; a clock that does not advance (a test's fake
    clock) reads nothing."""

    KIND = "cpu-memory"

    def __init__(self, clock: Callable[[], float] = time.perf_counter, big_mib: float | None = None,
                 small_mib: float = MEMORY_PROBE_SMALL_MIB) -> None:
        super().__init__()
        self._clock = clock
        self._big_mib = big_mib if big_mib is not None else min(
            max(MEMORY_PROBE_MIN_MIB, 2 * last_level_cache_mib()), MEMORY_PROBE_MAX_MIB)
        self._small_mib = small_mib
        self._arrays: tuple[np.ndarray, ...] | None = None
        self._failed = False
        self._samples = 0
        self.readings: list[float] = []  # seconds

    def _allocate(self) -> tuple[np.ndarray, ...]:
        big = int(self._big_mib * 2**20) // 4
        small = int(self._small_mib * 2**20) // 4
        arrays = (np.full(big, 1.5, np.float32), np.zeros(big, np.float32),
                  np.full(small, 1.5, np.float32), np.zeros(small, np.float32))
        np.copyto(arrays[1], arrays[0])  # every page touched before the first reading
        np.copyto(arrays[3], arrays[2])
        return arrays

    def read_after(self, samples: int, readings: int = MEMORY_PROBE_READINGS) -> None:
        """The readings for a repeat of ``samples`` timed blocks, taken once they are all done."""
        self._samples = samples
        for _ in range(readings):
            self.read()

    def read(self) -> None:
        """One reading (none where the arrays cannot be allocated or the clock does not advance)."""
        if self._failed:
            return
        if self._arrays is None:
            try:
                self._arrays = self._allocate()
            except MemoryError:  # a probe must never fail a cell: no reading, no normalisation
                self._failed = True
                return
        src, dst, small_src, small_dst = self._arrays
        clock = self._clock
        start = clock()
        np.copyto(dst, src)
        middle = clock()
        for _ in range(MEMORY_PROBE_SMALL_COPIES):
            np.copyto(small_dst, small_src)
        end = clock()
        if middle > start and end > middle:
            self.readings.append(math.sqrt((middle - start) * (end - middle)))

    def aligned(self, samples: int) -> tuple[float, ...]:
        """Every timed block's reading: the pooled one of the repeat (the harmonic mean, as `per_repeat` pools);
        nothing when the probe read nothing or was read for another number of blocks."""
        if not self.readings or self._samples != samples:
            return ()
        pooled = len(self.readings) / sum(1.0 / r for r in self.readings)
        return (pooled,) * samples

    def close(self) -> None:
        """Free the arrays (before the memory sampler reads the process again)."""
        self._arrays = None


def per_repeat(probes: Sequence[Sequence[float] | None]) -> list[tuple[float, ...] | None]:
    """Each repeat's CPU probe readings replaced by their pooled figure (the harmonic mean over its blocks), on
    every block: a CPU cell is divided repeat by repeat, since a reading a few blocks away says as much about the
    host's state as one right after the block (its slow episodes last tens of seconds) and one reading is noisy."""
    out: list[tuple[float, ...] | None] = []
    for repeat in probes:
        if not repeat or any(p <= 0 for p in repeat):
            out.append(None if repeat is None else tuple(repeat))
            continue
        pooled = len(repeat) / sum(1.0 / p for p in repeat)
        out.append((pooled,) * len(repeat))
    return out


def normalised(samples: Sequence[Sequence[float]], probes: Sequence[Sequence[float]],
               reference: float) -> list[tuple[float, ...]]:
    """Each repeat's samples in units of the reference probe: each block's time x reference / that block's probe."""
    return [tuple(x * reference / p for x, p in zip(run, block_probes, strict=True))
            for run, block_probes in zip(samples, probes, strict=True)]


def _aligned(samples: Sequence[Sequence[float]], probes: Sequence[Sequence[float] | None]) -> bool:
    return len(samples) == len(probes) and all(
        p is not None and len(p) == len(run) and all(v > 0 for v in p) for run, p in zip(samples, probes, strict=True))


def normalise_runs(
    current: Sequence[Sequence[float]],
    current_probes: Sequence[Sequence[float] | None],
    baseline: Sequence[Sequence[Sequence[float]]],
    baseline_probes: Sequence[Sequence[Sequence[float]] | None],
    what: str = "launch probe",
) -> tuple[list[tuple[float, ...]], list[list[tuple[float, ...]]], str] | None:
    """A launch-bound GPU cell's (or a CPU cell's) current repeats and baseline runs in the newest baseline run's host
    speed, with a note for the verdict (``what`` names the probe); None when any block on either side has no probe
    (then nothing is normalised: mixed units would be worse than none)."""
    if not current or not baseline or len(baseline_probes) != len(baseline):
        return None
    if not _aligned(current, current_probes):
        return None
    if not all(probes is not None and _aligned(run, probes) for run, probes in zip(baseline, baseline_probes,
                                                                                    strict=True)):
        return None
    reference = float(np.median([p for repeat in baseline_probes[-1] for p in repeat]))  # type: ignore[union-attr]
    now = float(np.median([p for repeat in current_probes for p in repeat]))  # type: ignore[union-attr]
    cur = normalised(current, current_probes, reference)  # type: ignore[arg-type]
    runs = [normalised(run, probes, reference)  # type: ignore[arg-type]
            for run, probes in zip(baseline, baseline_probes, strict=True)]
    note = f"host-normalised: {what} {now * 1e6:.2f} us now vs {reference * 1e6:.2f} us in the baseline (medians)"
    return cur, runs, note


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``: all but idle and iowait), or None
    where that cannot be read."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    """CPU seconds of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_s() -> float:
    """CPU seconds of this process's finished (waited-for) children and theirs: a pytest session run as a child."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


OTHER_CPU_NOTE = 0.25  # cores of other processes' CPU during a CPU cell's timed blocks that the table notes


class OtherCpu:
    """How many cores *other* processes kept busy while a CPU cell's timed blocks ran: the machine's busy time less
    this process's, per second of wall time. On this project's 2-core VM a process busy half the time on one core
    slowed ResNet-18 with 2 threads by 1.34x and with 1 thread not at all (``docs/results/cpu/threads-contention.md``),
    so a noisy CPU cell with this figure well above zero says why, and what to do (``--infperf-threads``). Read with
    the real clock only (``enabled``): under a test's fake clock it reads nothing, so no test depends on what else
    the machine runs. ``/proc/stat`` ticks are 10 ms: below ~1 s of blocks the figure is coarse."""

    def __init__(self, enabled: bool = True, wall: Callable[[], float] = time.perf_counter,
                 own: Callable[[], float] | None = None) -> None:
        """``own``: the CPU seconds that are not "other" (this process's; ``children_cpu_s`` for a child session)."""
        self._start: tuple[float, float, float] | None = None
        self._wall = wall
        self._own = own if own is not None else own_cpu_s
        self.cores: float | None = None
        busy = machine_busy_s() if enabled else None
        if busy is not None:
            self._start = (busy, self._own(), wall())

    def stop(self) -> float | None:
        """The cores other processes used since this was made (also kept as ``cores``); None when not read."""
        if self._start is None:
            return None
        busy = machine_busy_s()
        if busy is None:
            return None
        busy0, own0, wall0 = self._start
        wall = self._wall() - wall0
        if wall <= 0:
            return None
        self.cores = max(0.0, (busy - busy0) - (self._own() - own0)) / wall
        return self.cores
