"""Frozen results of a serving cell: the server's settings, the load, what the client saw and what Triton counted.

Plain data with ``to_json``/``from_json`` beside it; strict JSON (a non-finite figure becomes ``null``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    OK = "ok"
    START_FAILED = "start-failed"  # the server did not come up (its log says why)
    CRASHED = "crashed"  # the server died during the load
    HUNG = "hung"  # the server or the load generator did not finish in time


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class BatcherSettings:
    """Triton's dynamic batcher for the served model (PyTriton's ``ModelConfig`` + ``DynamicBatcher``)."""

    max_batch: int = 8
    preferred: tuple[int, ...] = ()
    queue_delay_us: int = 0
    instances: int = 1

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")
        if self.queue_delay_us < 0:
            raise ValueError(f"queue_delay_us must be >= 0, got {self.queue_delay_us}")

    @property
    def id(self) -> str:
        parts = [f"mb{self.max_batch}"]
        if self.queue_delay_us:
            parts.append(f"qd{self.queue_delay_us}")
        if self.instances > 1:
            parts.append(f"i{self.instances}")
        if self.preferred:
            parts.append("p" + "_".join(map(str, self.preferred)))
        return "-".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "preferred": list(self.preferred)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatcherSettings:
        return cls(**{**data, "preferred": tuple(data.get("preferred", ()))})


@dataclass(frozen=True)
class LoadSpec:
    """One load: ``users`` closed-loop clients (each sends its next request when its last returned), or open-loop
    Poisson arrivals at ``rate`` requests/s when ``rate`` > 0. Each request carries ``batch`` samples."""

    users: int = 1
    rate: float = 0.0
    batch: int = 1
    duration_s: float = 3.0
    warmup_s: float = 1.0
    timeout_s: float = 10.0
    procs: int = 1  # load-generator processes (asyncio in each), so one Python process is not the ceiling
    max_outstanding: int = 1024  # open loop: arrivals beyond this many in flight are dropped and counted
    shm: bool = False  # inputs through Triton's system shared memory (a server on this host), not in the gRPC message

    def __post_init__(self) -> None:
        if self.users < 1 or self.batch < 1 or self.procs < 1:
            raise ValueError(f"users, batch and procs must be >= 1: {self}")
        if not isinstance(self.shm, bool):
            raise ValueError(f"shm must be True or False, got {self.shm!r}")
        if self.rate < 0 or self.duration_s <= 0 or self.timeout_s <= 0 or self.warmup_s < 0:
            raise ValueError(f"rate and warmup_s must be >= 0, duration_s and timeout_s > 0: {self}")

    @property
    def open_loop(self) -> bool:
        return self.rate > 0

    @property
    def id(self) -> str:
        load = f"r{self.rate:g}" if self.open_loop else f"u{self.users}"
        load = load if self.batch == 1 else f"{load}-b{self.batch}"
        return f"{load}-shm" if self.shm else load

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        return cls(**{"shm": False, **data})


@dataclass(frozen=True)
class TritonStats:
    """The difference of Triton's statistics extension (per model) over the measured window: mean time per request
    in the queue and in compute input/infer/output (ms), and how many executions ran at each formed batch size."""

    requests: int = 0
    inferences: int = 0
    executions: int = 0
    queue_ms: float | None = None
    compute_input_ms: float | None = None
    compute_infer_ms: float | None = None
    compute_output_ms: float | None = None
    batch_sizes: dict[int, int] = field(default_factory=dict)  # formed batch size -> executions

    @property
    def mean_batch(self) -> float | None:
        return self.inferences / self.executions if self.executions else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        data["mean_batch"] = _finite(self.mean_batch)
        for key in ("queue_ms", "compute_input_ms", "compute_infer_ms", "compute_output_ms"):
            data[key] = _finite(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TritonStats:
        data = {k: v for k, v in data.items() if k != "mean_batch"}
        data["batch_sizes"] = {int(k): int(v) for k, v in data.get("batch_sizes", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class LoadResult:
    """What one load saw: per-request latencies (seconds, successful requests completed in the window), counts,
    throughput, and Triton's own statistics over the same window."""

    spec: LoadSpec
    window_s: float
    ok: int
    errors: int
    timeouts: int
    dropped: int
    latencies_s: tuple[float, ...]
    stats: TritonStats
    cold_start_s: float | None = None  # first request after the model loaded (only on a fresh server)
    error_sample: str = ""

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.window_s if self.window_s > 0 else 0.0

    @property
    def inferences_per_s(self) -> float:
        return self.requests_per_s * self.spec.batch

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        import numpy as np

        return float(np.percentile(np.asarray(self.latencies_s), q)) * 1e3

    def summary(self) -> dict[str, Any]:
        return {
            "requests_per_s": _finite(self.requests_per_s), "inferences_per_s": _finite(self.inferences_per_s),
            "p50_ms": _finite(self.percentile_ms(50)), "p90_ms": _finite(self.percentile_ms(90)),
            "p99_ms": _finite(self.percentile_ms(99)), "mean_batch": _finite(self.stats.mean_batch),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(), "window_s": self.window_s, "ok": self.ok, "errors": self.errors,
            "timeouts": self.timeouts, "dropped": self.dropped, "latencies_s": list(self.latencies_s),
            "stats": self.stats.to_json(), "cold_start_s": _finite(self.cold_start_s),
            "error_sample": self.error_sample, "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(
            spec=LoadSpec.from_json(data["spec"]), window_s=data["window_s"], ok=data["ok"], errors=data["errors"],
            timeouts=data["timeouts"], dropped=data["dropped"], latencies_s=tuple(data["latencies_s"]),
            stats=TritonStats.from_json(data["stats"]), cold_start_s=data.get("cold_start_s"),
            error_sample=data.get("error_sample", ""),
        )


@dataclass(frozen=True)
class ServingResult:
    """One serving cell: where it ran, under which batcher, its outcome, its load and the client's own ceiling (the
    same load against a trivial model on the same server; ``None`` for a user-named server)."""

    model: str
    url: str
    batcher: BatcherSettings | None  # None: a user-named server (its own settings)
    outcome: Outcome
    load: LoadResult | None = None
    ceiling: LoadResult | None = None
    start_s: float | None = None  # server launch until the model was ready
    log_tail: tuple[str, ...] = ()
    slo_ms: float | None = None
    slo_rate: float | None = None  # highest request rate found whose p99 stayed under slo_ms
    slo_probes: tuple[tuple[float, float | None], ...] = ()  # (rate, p99 ms) tried by the search
    repeats: tuple[LoadResult, ...] = ()  # every load window of the cell, in order (``load`` is the fastest)
    verdicts: dict[str, Any] = field(default_factory=dict)  # "throughput"/"p99" -> Verdict.to_json(), when compared
    served: str = ""  # how the server ran the model: "<backend>-<device>-<precision>" ("" for a user's server)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "url": self.url,
            "batcher": self.batcher.to_json() if self.batcher else None, "outcome": self.outcome.value,
            "load": self.load.to_json() if self.load else None,
            "ceiling": self.ceiling.to_json() if self.ceiling else None,
            "start_s": _finite(self.start_s), "log_tail": list(self.log_tail), "slo_ms": self.slo_ms,
            "slo_rate": _finite(self.slo_rate), "slo_probes": [[r, _finite(p)] for r, p in self.slo_probes],
            "repeats": [r.to_json() for r in self.repeats], "verdicts": dict(self.verdicts), "served": self.served,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServingResult:
        return cls(
            model=data["model"], url=data["url"],
            batcher=BatcherSettings.from_json(data["batcher"]) if data.get("batcher") else None,
            outcome=Outcome(data["outcome"]),
            load=LoadResult.from_json(data["load"]) if data.get("load") else None,
            ceiling=LoadResult.from_json(data["ceiling"]) if data.get("ceiling") else None,
            start_s=data.get("start_s"), log_tail=tuple(data.get("log_tail", ())), slo_ms=data.get("slo_ms"),
            slo_rate=data.get("slo_rate"), slo_probes=tuple((r, p) for r, p in data.get("slo_probes", ())),
            repeats=tuple(LoadResult.from_json(r) for r in data.get("repeats", ())),
            verdicts=dict(data.get("verdicts") or {}), served=data.get("served", ""),
        )
