"""How fast this process's host launches GPU work right now: a tiny probe after each timed block of a CUDA cell
(`LaunchProbe`); how fast the CPU runs right now, after each timed block of a CPU cell (`CpuProbe`).

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


CPU_PROBE_ELEMENTS = 8192  # float32: 32 KiB per array, in the core's L1/L2 cache: the probe reads the core's speed
CPU_PROBE_ROUNDS = 16  # multiply-adds per unit: ~40 us on this project's CI VM, the figure a reading is given in
CPU_PROBE_WINDOW_S = 0.002  # per block: units are counted over this much wall time, the thread's lost time included
CPU_PROBE_STILL = 4  # units after which a clock that has not moved (a test's fake clock) ends the reading at zero


class CpuProbe(BlockProbe):
    """Seconds per unit of fixed single-threaded arithmetic (``CPU_PROBE_ROUNDS`` multiply-adds over
    ``CPU_PROBE_ELEMENTS`` cached floats), counted over a window of ``CPU_PROBE_WINDOW_S`` of wall time after each
    timed block of a CPU cell, with the cell's own clock: the window's length over the units it completed. Time
    in which the thread did not run (another process or, on a virtual machine, another guest on the same core) is in
    the window and not in the units, so the reading grows with the share of the core this thread is denied; a model
    whose own work grew does not move it. (The first version took the least of three readings of one unit, ~40 us
    each: the least of short readings is the one no interruption touched, and in CI two A/A sessions whose cells ran
    12-27 % slower read it only 1.2 % and 1.4 % slower, docs/results/cpu/gate-calibration-small.md.) Recorded
    beside the samples, **not used by the gate** (``compare.judge.host_probe``): on this project's VM dividing it out
    cleared A/A noise but took 1.25x slowdowns from regressed to noisy, and its readings moved by up to 1.5x between
    cells of a calm session (docs/results/cpu/window-probe/). ``KIND`` is stored with the readings so a baseline of
    the first version is never divided by this one. With a clock that does not advance (a test's fake clock) it
    reads zero, and nothing is normalised."""

    KIND = "cpu-window"

    def __init__(self, clock: Callable[[], float] = time.perf_counter, window_s: float = CPU_PROBE_WINDOW_S) -> None:
        super().__init__()
        self._clock = clock
        self._window = window_s
        self._a = np.linspace(0.5, 1.5, CPU_PROBE_ELEMENTS, dtype=np.float32)
        self._b = np.empty_like(self._a)

    def __call__(self) -> None:
        a, b, clock = self._a, self._b, self._clock
        units = 0
        start = clock()
        while True:
            for _ in range(CPU_PROBE_ROUNDS):
                np.multiply(a, 0.999, out=b)
                np.add(b, a, out=b)
            units += 1
            elapsed = clock() - start
            if elapsed >= self._window or (elapsed <= 0 and units >= CPU_PROBE_STILL):
                break
        self.per_block.append(max(elapsed, 0.0) / units)


def per_repeat(probes: Sequence[Sequence[float] | None]) -> list[tuple[float, ...] | None]:
    """Each repeat's CPU probe readings replaced by their pooled figure (all windows' time over all their units:
    the harmonic mean of equal windows), on every block: the share of the core a thread gets changes over seconds
    and is sampled in 2 ms windows that either fall in a pause or do not, so one block's reading says little and
    the pooled one says how much of the core the repeat had."""
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
