"""What a measured cell produced: plain frozen data that could cross a process boundary."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np

from ..gpu import POWER_CAP, THROTTLING, ClockStats
from ..matrix import Case
from . import stats
from .concurrency import ConcurrencyStats
from .hostspeed import OTHER_CPU_NOTE
from .memory import MemoryStats
from .stats import Summary
from .timing import Timing

LEAK_NOTE_MIB = 64.0  # memory still held after a cell was released beyond this is noted: it would skew the next cell


def strict_json(data: dict[str, object]) -> dict[str, object]:
    """``data`` with every NaN or infinite float replaced by None, through nested dicts, lists and tuples: the last
    guard of what we write. github-action-benchmark and Bencher parse strict JSON and reject the whole file on a NaN or
    an Infinity, which Python's json writes by default. Figures should be finite (or None) where they are computed."""
    return {key: _finite(value) for key, value in data.items()}


def _finite(value: object) -> object:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return strict_json(value)
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@dataclass(frozen=True)
class ColdStart:
    load_s: float  # build/export/compile + session creation
    first_call_s: float  # first inference after load, including lazy init and autotuning
    phases: tuple[tuple[str, float], ...] = ()  # backend-reported parts of load_s, e.g. export_s


@dataclass(frozen=True)
class OutputCheck:
    """The cell's output against an fp32 reference on the same input: max |out - ref| / max |ref|. An output (or a
    reference) with NaN or inf in it has no meaningful error: ``max_rel_error`` is None and ``nonfinite`` says why."""

    reference: str  # what computed the reference, e.g. "torch fp32" or "onnxruntime fp32"
    max_rel_error: float | None
    tolerance: float
    nonfinite: str = ""  # e.g. "output contains NaN", "output contains inf", "reference contains NaN"

    @property
    def ok(self) -> bool:
        return not self.nonfinite and self.max_rel_error is not None and self.max_rel_error <= self.tolerance

    def problem(self) -> str:
        """What is wrong with the output, for the cell's failure message (empty when nothing is)."""
        if self.ok:
            return ""
        if self.nonfinite.startswith("reference"):
            return f"the {self.reference} {self.nonfinite}"
        if self.nonfinite:
            return self.nonfinite
        return (f"output differs from the {self.reference} reference: max relative error {self.max_rel_error:.3g} > "
                f"{self.tolerance:g}")

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Diagnosis:
    """Host enqueue time per call next to device time per call: close to 1 means launch-bound."""

    host_enqueue_s: float
    device_s: float
    launch_bound: bool

    @property
    def ratio(self) -> float | None:
        """Host enqueue time over device time; None when no device time was measured (no finite ratio exists)."""
        return self.host_enqueue_s / self.device_s if self.device_s > 0 else None


def _throttled_at_ends(before: dict[str, object], after: dict[str, object]) -> str:
    """Heat or hardware slowdown reported at a repeat's start or end, or thermal capping time accumulated during it
    (NVML's violation counter). Power capping is not among them (see gpu.THROTTLING)."""
    reasons = sorted((set(before.get("clock_event_reasons", []) or []) | set(
        after.get("clock_event_reasons", []) or [])) & THROTTLING)
    out = ["throttled (" + ", ".join(reasons) + ")"] if reasons else []
    start, end = before.get("thermal_violation_ns"), after.get("thermal_violation_ns")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end - start > 1e6:
        out.append(f"{(end - start) / 1e6:.0f} ms of thermal capping")
    return "; ".join(out)


@dataclass(frozen=True)
class Repeat:
    """One independent measurement of a cell: its own load (cold start), warm-up and timed blocks, in one worker
    process. A cell is measured several times, spread over the session, because the spread *between* such
    measurements (process and host state) is much larger than the spread of the samples within one."""

    timing: Timing
    cold: ColdStart
    index: int = 0  # the order in which this cell's repeats were taken
    worker: str = "-"  # the worker process slot that ran it ("-": the pytest process)
    started_at: float = 0.0  # wall-clock seconds (epoch) when it started: how far apart in time repeats were
    clock: ClockStats | None = None  # GPU: SM clock and reasons between its timed blocks
    device_before: tuple[tuple[str, object], ...] = ()
    device_after: tuple[tuple[str, object], ...] = ()
    diagnosis: Diagnosis | None = None
    confirm: bool = False  # taken after the first repeats suggested a regression, to confirm or clear it
    waited_s: float = 0.0  # seconds the session waited for a slow host right before this repeat (patience.HostWait)
    memory_peak_mib: float | None = None  # the repeat's peak memory (MemoryStats.peak_mib), when sampled
    host_probes: tuple[float, ...] = ()  # per timed block: CUDA launch or CPU probe seconds (measure.hostspeed)
    host_probe_kind: str = ""  # which probe read them (hostspeed.LaunchProbe.KIND, CpuProbe.KIND)
    other_cpu: float | None = None  # CPU cells: cores other processes kept busy meanwhile (hostspeed.OtherCpu)
    wall_s: float = 0.0  # the whole repeat in its worker: load, warm-up, timed blocks, memory pass, check, release
    laps: tuple[tuple[str, float], ...] = ()  # wall_s by phase, in order (runner._Laps): inputs_s, load_s, ...

    @property
    def host_probe_s(self) -> float | None:
        """The median of the repeat's host launch probes."""
        return float(np.median(self.host_probes)) if self.host_probes else None

    @property
    def median(self) -> float:
        return float(np.median(self.timing.samples))  # what stats.summarize reports, without the other figures

    @property
    def cold_start_s(self) -> float:
        """The cold start the gate compares: load + first call, without the cache-dependent phases."""
        return cold_start_seconds(self.cold.load_s, self.cold.first_call_s, cached_seconds(dict(self.cold.phases)))

    @property
    def ran_cached_phase(self) -> bool:
        """Its load exported or quantized the model (the on-disk cache was cold): see `comparable_cold_starts`."""
        return has_cached_phase(k for k, _ in self.cold.phases)

    @property
    def throttled(self) -> str:
        """Why this repeat's numbers are not comparable (empty when they are)."""
        parts = [_throttled_at_ends(dict(self.device_before), dict(self.device_after))]
        if self.clock is not None:
            parts.append(self.clock.throttled())
        return "; ".join(p for p in parts if p)

    @property
    def power_capped(self) -> bool:
        ends = set(dict(self.device_before).get("clock_event_reasons", []) or []) | set(
            dict(self.device_after).get("clock_event_reasons", []) or [])
        return POWER_CAP in ends or (self.clock is not None and self.clock.power_capped)


CACHED_PHASES = ("export_s", "quantize_s")  # load phases that depend on on-disk caches, not on the code under test


def cold_start_seconds(load_s: float, first_call_s: float, export_s: float = 0.0) -> float:
    """The cold start the gate compares: load and first call, without the ONNX export and int8 quantization (their
    time depends on whether the on-disk cache was warm, not on the code under test; they are reported on their
    own). ``export_s`` is the sum of those phases (`cached_seconds`). An engine build stays in: compare runs whose
    engine caches were in the same state (``details.engine_cache``)."""
    return max(load_s - export_s, 0.0) + first_call_s


def cached_seconds(phases: dict[str, object]) -> float:
    return float(sum(v for k, v in phases.items() if k in CACHED_PHASES and isinstance(v, (int, float))))


def has_cached_phase(phase_names: Iterable[str]) -> bool:
    """A load whose phases include an export or a quantization (the on-disk cache was cold)."""
    return any(k in CACHED_PHASES for k in phase_names)


def comparable_cold_starts(colds: Sequence[tuple[float, bool]]) -> list[float]:
    """The repeats' cold starts that the gate compares, from each repeat's cold start and whether its load ran a
    cached phase (`Repeat.ran_cached_phase`): those of repeats that did not, unless every repeat did. Subtracting the
    export's time leaves the process the export warmed: on the CI VM, onnxruntime CPU ResNet-18 64px b1 created its
    session in 59 ms right after the export and in 200-650 ms in every other process, so a save whose fastest cold
    start was the exporting repeat's (85 ms) made every later session's cold start a +150...+500 % regression."""
    plain = [float(c) for c, ran in colds if not ran]
    return plain or [float(c) for c, _ in colds]


def usable(repeats: Sequence[Repeat]) -> list[Repeat]:
    """The repeats measured on a steady device; all of them when none was (the gate then says unstable)."""
    steady = [r for r in repeats if not r.throttled]
    return steady or list(repeats)


class OutcomeStatus(str, Enum):
    """Why a cell has no measurement. A str enum: it compares equal to, and serialises as, its value."""

    OOM = "oom"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Outcome:
    """A cell that produced no measurement: out of memory, crashed, timed out, or failed with an error."""

    status: OutcomeStatus
    cell: str
    message: str
    batch: int = 0
    exit_signal: str | None = None
    log_tail: tuple[str, ...] = ()
    memory: tuple[tuple[str, float], ...] = ()  # device/host memory figures at the failure (MiB)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", OutcomeStatus(self.status))  # a plain string from a file or a caller

    @property
    def title(self) -> str:
        return _TITLES[self.status]

    def describe(self) -> str:
        if self.status is OutcomeStatus.ERROR:  # the message says what failed (a model factory, a backend's own error)
            return f"{self.cell}: {self.message}"
        text = f"{self.cell}: {self.title}"
        if self.status is OutcomeStatus.OOM:
            mem = dict(self.memory)
            figures = [f"batch {self.batch}"]
            if "device_used_mib" in mem:
                figures.append(f"device {mem['device_used_mib']:,.0f} of {mem['device_total_mib']:,.0f} MiB in use")
            if "torch_max_allocated_mib" in mem:
                figures.append(f"torch max allocated {mem['torch_max_allocated_mib']:,.0f} MiB")
            if "rss_mib" in mem:
                figures.append(f"process RSS {mem['rss_mib']:,.0f} MiB")
            text += f" ({'; '.join(figures)})"
        return f"{text}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return strict_json({
            "status": self.status.value, "cell": self.cell, "message": self.message, "batch": self.batch,
            "exit_signal": self.exit_signal, "log_tail": list(self.log_tail), "memory": dict(self.memory),
        })


_TITLES = {OutcomeStatus.OOM: "out of memory", OutcomeStatus.CRASHED: "crashed", OutcomeStatus.TIMEOUT: "timed out",
           OutcomeStatus.ERROR: "error"}


@dataclass(frozen=True)
class CellResult:
    nodeid: str
    model: str
    case: Case
    timing: Timing
    summary: Summary
    cold: ColdStart
    versions: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, object], ...] = ()  # backend settings that shape the number (channels_last, io, ...)
    check: OutputCheck | None = None
    diagnosis: Diagnosis | None = None
    device_before: tuple[tuple[str, object], ...] = ()  # NVML state at the cell's start and end
    device_after: tuple[tuple[str, object], ...] = ()
    memory: MemoryStats | None = None
    flops_per_image: float | None = None  # counted once per model and input shape (None: not countable)
    concurrency: ConcurrencyStats | None = None  # set when the cell ran several concurrent users
    # Every independent measurement of the cell. ``timing``/``summary`` are the fastest steady repeat's (the
    # statistic the gate compares, stats.run_estimate), ``cold`` the repeat with the least cold start.
    repeats: tuple[Repeat, ...] = ()
    timer: str = ""  # what timed the samples: "cuda-events" or a host clock such as "time.perf_counter"

    @property
    def notes(self) -> list[str]:
        out = []
        if self.diagnosis is not None and self.diagnosis.launch_bound:
            out.append("launch-bound")
        if self.check is not None and not self.check.ok:
            out.append("WRONG OUTPUT")
        if self.memory is not None and (self.memory.leaked_mib or 0.0) > LEAK_NOTE_MIB:
            out.append(f"{self.memory.leaked_mib:.0f} MiB held after release")
        if not self.timing.warmup_settled:
            out.append("warm-up unsettled")
        repeats = self.repeats or (Repeat(self.timing, self.cold, device_before=self.device_before,
                                           device_after=self.device_after),)
        throttled = [r for r in repeats if r.throttled]
        if throttled:
            out.append(f"{len(throttled)} of {len(repeats)} repeat(s) {throttled[0].throttled}")
        if any(r.power_capped for r in repeats):
            out.append("at power cap")
        busy = max((r.other_cpu for r in repeats if r.other_cpu is not None), default=0.0)
        if busy >= OTHER_CPU_NOTE:
            out.append(f"other processes used {busy:.2f} cores")
        return out

    @property
    def memory_peaks_mib(self) -> tuple[float, ...]:
        """Each repeat's peak memory (the full measurement's where no repeat sampled one); what the memory gate
        judges, with the least of them as the run's figure."""
        peaks = tuple(r.memory_peak_mib for r in self.repeats if r.memory_peak_mib is not None)
        if peaks:
            return peaks
        return (self.memory.peak_mib,) if self.memory is not None else ()

    @property
    def memory_peak_mib(self) -> float | None:
        """The figure the memory gate compares: the least peak of the repeats, else the full measurement's. Like
        time, a peak only grows by interference: process RSS grows by whatever the allocator could not reuse from
        earlier cells (onnxruntime CPU b4 here: 18/27/18 MiB in one session's repeats, 36/103/77 MiB in the next),
        while a model that needs more memory raises every repeat's peak."""
        peaks = [r.memory_peak_mib for r in self.repeats if r.memory_peak_mib is not None]
        if peaks:
            return min(peaks)
        return self.memory.peak_mib if self.memory is not None else None

    @property
    def per_image(self) -> float:
        """Time per image: of one request when a single user; the inverse of aggregate throughput with several."""
        if self.concurrency is not None:
            return 1.0 / self.concurrency.images_per_s
        return self.summary.median / self.case.batch

    @property
    def images_per_s(self) -> float:
        if self.concurrency is not None:
            return self.concurrency.images_per_s
        return self.case.batch / self.summary.median

    @property
    def tflops_per_s(self) -> float | None:
        """Achieved TFLOP/s: FLOPs per image x images per second."""
        if self.flops_per_image is None:
            return None
        return self.flops_per_image * self.images_per_s / 1e12

    @property
    def tokens_per_s(self) -> float | None:
        """Samples per second x the sequence dim's value, when the test declares one (``sequence_dim=``)."""
        from ..inputs import tokens_per_sample

        tokens = tokens_per_sample(self.case)
        return None if tokens is None else self.images_per_s * tokens

    def inputs_json(self) -> dict[str, object]:
        """Several / integer inputs (inputs.py): their shapes and dtypes, the named dims, the unit, tokens/s."""
        if self.case.inputs is None:
            return {}
        return {**self.case.inputs.describe(dict(self.case.dims)), "tokens_per_s": self.tokens_per_s}


def combine(cell: CellResult, repeats: Sequence[Repeat]) -> CellResult:
    """The cell with all its repeats: timing and summary of the fastest steady repeat (what the gate compares),
    the least comparable cold start (`comparable_cold_starts`; with the export and quantization phases of the repeat
    that ran them); memory, output check and concurrency figures stay those of the full measurement."""
    if not repeats:
        return cell
    steady = usable(repeats)
    fastest = steady[stats.fastest([r.median for r in steady])]
    least = min(comparable_cold_starts([(r.cold_start_s, r.ran_cached_phase) for r in repeats]))
    coldest = next(r for r in repeats if r.cold_start_s == least).cold
    # the one-time phases (ONNX export, int8 quantization) ran in whichever repeat loaded first: the cell reports them
    once = {k: v for r in repeats for k, v in r.cold.phases if k in CACHED_PHASES}
    cold = dataclasses.replace(coldest, phases=tuple(sorted({**dict(coldest.phases), **once}.items())))
    return dataclasses.replace(
        cell, timing=fastest.timing, summary=stats.summarize(fastest.timing.samples), cold=cold,
        diagnosis=fastest.diagnosis if fastest.diagnosis is not None else cell.diagnosis, repeats=tuple(repeats),
    )
