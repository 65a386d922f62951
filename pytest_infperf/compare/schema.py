"""The per-cell record we write into pytest-benchmark's JSON and what a baseline reads back of it, side by side.

Writing: `cell_to_json` is a cell's ``extra_info["infperf"]`` entry, with one `repeat_to_json` record per repeat.
Reading: `cell_from_json` takes one entry of a file's ``benchmarks`` list (after `migrate`) and returns the
`StoredCell` the gate compares against, or None for a cell whose output check failed (older versions recorded those
as measurements; a wrong result never serves as a baseline). A field the gate reads is written here and read here, so
the two cannot drift apart; the schema version and the migrations of older files are here too. Strict JSON only
(`strict_json`).

Schema 2 adds the run-level ``infperf`` object beside machine_info: {"schema": 2, "outcomes": {fullname:
{"status": "oom" | "crashed" | "timeout" | "error", "cell": ..., "message": ..., ...}}} for cells without timing.
Schema 3 measures each cell several times: ``extra_info.infperf.repeats`` holds every repeat's raw samples, cold start
and SM clock, and pytest-benchmark's ``stats`` are the fastest repeat's (the figure the gate compares). A schema-2 file
is one repeat per cell: its ``stats.data``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..measure import stats
from ..measure.hostspeed import MemoryProbe
from ..measure.results import (
    CellResult,
    Repeat,
    cached_seconds,
    cold_start_seconds,
    comparable_cold_starts,
    has_cached_phase,
    strict_json,
)

SCHEMA = 3


def _from_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 had no run-level outcomes: every cell it names was measured."""
    info = {**data["machine_info"]["infperf"], "schema": 2}
    return {**data, "machine_info": {**data["machine_info"], "infperf": info}, "infperf": {"schema": 2, "outcomes": {}}}


def _from_2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 measured each cell once: its samples are its one repeat (the reader falls back to stats.data)."""
    info = {**data["machine_info"]["infperf"], "schema": 3}
    return {**data, "machine_info": {**data["machine_info"], "infperf": info}}


# from_version -> function returning the data in from_version + 1. Applied in memory only: files are never rewritten.
MIGRATIONS: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1, 2: _from_2}
OLDEST = min(MIGRATIONS, default=SCHEMA)


def migrate(data: dict[str, Any], schema: int) -> dict[str, Any]:
    """A file written in ``schema`` as this version writes it (in memory)."""
    for version in range(schema, SCHEMA):
        data = MIGRATIONS[version](data)
    return data


# ------------------------------------------------------------------------------------------------------ writing


def repeat_to_json(repeat: Repeat) -> dict[str, object]:
    """One repeat's record in ``extra_info["infperf"]["repeats"]``: its raw samples and what it ran under."""
    summary = stats.summarize(repeat.timing.samples)
    return strict_json({
        "index": repeat.index,
        "worker": repeat.worker,
        "started_at": repeat.started_at,
        "wall_s": repeat.wall_s,
        "laps": dict(repeat.laps),
        "confirm": repeat.confirm,
        "waited_s": repeat.waited_s,
        "median_s": summary.median,
        "rounds": len(repeat.timing.samples),
        "block_size": repeat.timing.block_size,
        "samples": list(repeat.timing.samples),
        "cold_start": {"load_s": repeat.cold.load_s, "first_call_s": repeat.cold.first_call_s,
                       **dict(repeat.cold.phases)},
        "cold_start_s": repeat.cold_start_s,
        "memory_peak_mib": repeat.memory_peak_mib,
        "host_probe_s": repeat.host_probe_s,
        "host_probes": list(repeat.host_probes),
        "host_probe_kind": repeat.host_probe_kind,
        "other_cpu_cores": repeat.other_cpu,
        "clock": asdict(repeat.clock) if repeat.clock is not None else None,
        "throttled": repeat.throttled,
        "power_capped": repeat.power_capped,
        "diagnosis": asdict(repeat.diagnosis) | {"ratio": repeat.diagnosis.ratio} if repeat.diagnosis else None,
    })


def cell_to_json(cell: CellResult) -> dict[str, object]:
    """The ``extra_info["infperf"]`` entry stored with the cell in pytest-benchmark's JSON (strict JSON)."""
    return strict_json({
        "model": cell.model,
        "cell": cell.case.id,
        "backend": cell.case.backend,
        "device": cell.case.device,
        "precision": cell.case.precision,
        "batch": cell.case.batch,
        "input_shape": list(cell.case.batch_shape),
        "time_per_batch_s": cell.summary.median,
        "time_per_image_s": cell.per_image,
        "images_per_s": cell.images_per_s,
        "flops_per_image": cell.flops_per_image,
        "tflops_per_s": cell.tflops_per_s,
        **cell.inputs_json(),
        "summary": asdict(cell.summary),
        "block_size": cell.timing.block_size,
        "warmup": {
            "calls": cell.timing.warmup_calls,
            "time_s": cell.timing.warmup_time,
            "settled": cell.timing.warmup_settled,
        },
        "cold_start": {
            "load_s": cell.cold.load_s, "first_call_s": cell.cold.first_call_s, **dict(cell.cold.phases)
        },
        "versions": dict(cell.versions),
        "details": dict(cell.details),
        "output_check": cell.check.to_json() if cell.check else None,
        "diagnosis": asdict(cell.diagnosis) | {"ratio": cell.diagnosis.ratio} if cell.diagnosis else None,
        "device_state": {"start": dict(cell.device_before), "end": dict(cell.device_after)},
        "memory": asdict(cell.memory) | {"peak_mib": cell.memory.peak_mib} if cell.memory else None,
        "concurrency": asdict(cell.concurrency) | {"users": cell.case.concurrency} if cell.concurrency else None,
        "notes": cell.notes,
        "repeats": [repeat_to_json(r) for r in cell.repeats],
    })


# ------------------------------------------------------------------------------------------------------ reading


class RecordError(ValueError):
    """A benchmark entry the gate cannot use; the message names the problem (baseline.read_run adds the file)."""


@dataclass(frozen=True)
class StoredCell:
    """What a baseline keeps of one cell: each repeat's raw samples (seconds per call) and what the gate needs
    beside them."""

    fullname: str
    repeats: tuple[tuple[float, ...], ...]
    launch_bound: bool = False
    cold_s: float | None = None  # least cold start of the repeats (cold_start_seconds)
    memory_mib: tuple[float, ...] = ()  # each repeat's peak memory
    sm_clock_mhz: float | None = None  # SM clock of the fastest steady repeat (GPU cells)
    host_probes: tuple[tuple[float, ...], ...] | None = None  # per repeat, per timed block (when every block has one)


def output_failed(extra: Mapping[str, Any]) -> bool:
    """Whether a cell's ``extra_info["infperf"]`` records a failed output check (`OutputCheck.to_json`: ``ok`` false,
    or ``nonfinite`` saying the output or reference held NaN/inf)."""
    check = extra.get("output_check")
    return isinstance(check, Mapping) and (check.get("ok") is False or bool(check.get("nonfinite")))


def cell_from_json(bench: Mapping[str, Any]) -> StoredCell | None:
    """One ``benchmarks`` entry of a (migrated) file, as the gate reads it; None for a cell whose output check failed
    (`output_failed`: a wrong result is no baseline). Raises `RecordError`."""
    try:
        fullname = bench["fullname"]
        samples = bench["stats"]["data"]
    except (KeyError, TypeError):
        raise RecordError("has a benchmark without 'fullname' or raw samples ('stats.data')") from None
    extra = (bench.get("extra_info") or {}).get("infperf") or {}
    if output_failed(extra):
        return None
    if not _usable(samples):
        raise RecordError(f"has no usable raw samples for {fullname}")
    repeats = extra.get("repeats") or []
    if not isinstance(repeats, list) or not all(isinstance(r, dict) and _usable(r.get("samples")) for r in repeats):
        raise RecordError(f"has a repeat without usable raw samples for {fullname}")
    runs = (tuple(tuple(float(x) for x in r["samples"]) for r in repeats) or (tuple(float(x) for x in samples),))
    launch_bound = bool((extra.get("diagnosis") or {}).get("launch_bound") or any(
        (r.get("diagnosis") or {}).get("launch_bound") for r in repeats))
    peaks = [float(r["memory_peak_mib"]) for r in repeats if _finite(r.get("memory_peak_mib"))]
    peak = (extra.get("memory") or {}).get("peak_mib")
    memory = tuple(peaks) or ((float(peak),) if _finite(peak) else ())
    clock = ((extra.get("device_state") or {}).get("end") or {}).get("sm_clock_mhz")
    steady = [r for r in repeats if not r.get("throttled")] or repeats
    if steady:
        fastest = steady[stats.fastest([stats.summarize(r["samples"]).median for r in steady])]
        clock = (fastest.get("clock") or {}).get("median_mhz", clock)
    probes = stored_probes(str(extra.get("device")), repeats)
    colds = comparable_cold_starts([
        (r["cold_start_s"], has_cached_phase(r.get("cold_start") or {}))
        for r in repeats if isinstance(r.get("cold_start_s"), (int, float))])
    phases = extra.get("cold_start") or {}
    cold = None
    if colds:
        cold = min(colds)
    elif isinstance(phases.get("load_s"), (int, float)) and isinstance(phases.get("first_call_s"), (int, float)):
        cold = cold_start_seconds(phases["load_s"], phases["first_call_s"], cached_seconds(phases))
    return StoredCell(
        fullname=fullname, repeats=runs, launch_bound=launch_bound, cold_s=cold, memory_mib=memory,
        sm_clock_mhz=float(clock) if isinstance(clock, (int, float)) and clock > 0 else None,
        host_probes=probes,
    )


def stored_probes(device: str, repeats: list[dict[str, Any]]) -> tuple[tuple[float, ...], ...] | None:
    """The host probes of a cell's stored repeats, one per raw sample, or None when any repeat lacks them or a CPU
    cell's were read by another kind of CPU probe (the earlier in-core arithmetic probes, a different figure: never
    mixed with `hostspeed.MemoryProbe`'s)."""
    probes = [r.get("host_probes") for r in repeats]
    aligned = bool(repeats) and all(
        isinstance(p, list) and len(p) == len(r["samples"]) and all(_finite(v) and v > 0 for v in p)
        for p, r in zip(probes, repeats, strict=True))
    if device == "cpu" and any(r.get("host_probe_kind") != MemoryProbe.KIND for r in repeats):
        return None
    return tuple(tuple(float(v) for v in p) for p in probes) if aligned else None  # type: ignore[union-attr]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _usable(samples: object) -> bool:
    return (isinstance(samples, list) and bool(samples)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in samples))
