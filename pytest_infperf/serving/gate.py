"""The serving cells' gate: throughput and p99 latency against the baseline runs' serving records (read with the
rest of the baseline, `compare.baseline.BaselineSet.serving`), with the same estimator as time per call (the fastest
of the repeats, `compare.gate.decide_values`). Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..compare.gate import GatePolicy, Status, Verdict, decide_values
from .results import LoadResult, ServingResult


@dataclass(frozen=True)
class ServingVerdicts:
    throughput: Verdict | None
    p99: Verdict | None

    def kinds(self) -> dict[str, Verdict]:
        return {kind: v for kind, v in (("throughput", self.throughput), ("p99", self.p99)) if v is not None}

    def regressions(self) -> list[str]:
        return [f"serving {kind} regression: {v.message()}" for kind, v in self.kinds().items()
                if v.status is Status.REGRESSED]

    def to_json(self) -> dict[str, Any]:
        return {kind: v.to_json() for kind, v in self.kinds().items()}


def _figures(loads: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """Seconds per inference (1 / throughput) and p99 seconds of each repeat that completed requests."""
    per_inference = [1.0 / s["inferences_per_s"] for s in loads if (s.get("inferences_per_s") or 0) > 0]
    p99 = [s["p99_ms"] / 1e3 for s in loads if (s.get("p99_ms") or 0) > 0]
    return per_inference, p99


def _summaries(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    loads = record.get("repeats") or ([record["load"]] if record.get("load") else [])
    return [load.get("summary") or {} for load in loads]


def judge(cell: str, result: ServingResult, baseline: Sequence[Mapping[str, Any]], gate_policy: GatePolicy,
          p99_threshold: float, p99_floor: float = 0.25, source: str = "") -> ServingVerdicts:
    """Throughput (as seconds per inference, lower is better) and p99 of this cell's repeats against the baseline
    runs'. Serving cells are host-bound (client, gRPC, the server's Python backend), so throughput takes the CPU
    cells' floor (`GatePolicy.noise_prior`); p99 its own, wider one (``p99_floor``, σ): the p99 of a few-second
    window is its few largest latencies (about the 3rd largest of 250 requests), and on this project's 2-core VM an
    A/A session's p99 moved by -25 ... +115 % while its throughput moved by -15 ... +27 %."""
    repeats: Sequence[LoadResult] = result.repeats or ((result.load,) if result.load else ())
    now_inf, now_p99 = _figures([r.summary() for r in repeats])
    runs = [_figures(_summaries(record)) for record in baseline]
    floor = gate_policy.noise_prior
    throughput = p99 = None
    if now_inf:
        throughput = decide_values(cell, now_inf, [r[0] for r in runs], gate_policy.threshold, floor,
                                   gate_policy.confidence, source, what="throughput")
        if throughput.baseline_median:
            shown = (f"throughput {1 / throughput.current_median:,.1f} vs {1 / throughput.baseline_median:,.1f} "
                     "inferences/s (compared as time per inference)")
            throughput = dataclasses.replace(throughput, detail=throughput.detail.replace("throughput", shown, 1))
    if now_p99:
        p99 = decide_values(cell, now_p99, [r[1] for r in runs], p99_threshold, p99_floor, gate_policy.confidence,
                            source, what="p99 latency")
    return ServingVerdicts(throughput, p99)
