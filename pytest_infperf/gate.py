"""The regression gate: compares one cell's raw samples with its baseline runs and returns a `Verdict`.

A cell regresses only when its median moved by more than the configured threshold, by more than the cell's
*between-run* noise allows, and the shift is significant on the raw samples (one-sided Mann-Whitney U).
Between-run noise comes from the baseline's independent runs (several saves under one name); with a single run it
is unknown, and a conservative prior stands in. When the evidence cannot decide, the verdict is "noisy".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from . import stats


class Status(str, Enum):
    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    NOISY = "noisy"
    UNSTABLE = "unstable"  # measured while the GPU throttled or ran at other clocks than the baseline
    NO_BASELINE = "no baseline"


class GateMode(str, Enum):
    FAIL = "fail"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True)
class GatePolicy:
    threshold: float = 0.10  # relative change that matters at all
    alpha: float = 0.01  # Mann-Whitney significance on raw samples
    confidence: float = 0.99  # prediction interval for a new run's median given the baseline runs
    noise_prior: float = 0.10  # between-run sigma assumed when the baseline has a single run, and the floor of
    # sigma for host-bound cells (CPU cells, launch-bound GPU cells), whose run-to-run spread three runs understate
    launch_bound_noise: float = 0.20  # least between-run sigma of launch-bound GPU cells (H100: 8-20 % measured)
    max_limit: float = 0.50  # cap on the noise allowance: a larger change always counts (if significant)
    cold_threshold: float = 1.0  # cold start (load + first call) is noisier: only a change beyond this counts
    memory_threshold: float = 0.10  # a memory regression exceeds both this fraction ...
    memory_threshold_mib: float = 64.0  # ... and this many MiB

    def floor(self, device: str, launch_bound: bool) -> float:
        """Least between-run sigma of a cell: host-bound cells switch between fast and slow modes from one process
        to the next (CPU scheduling, the launch path) and a few baseline runs can all land in one mode."""
        if launch_bound:
            return self.launch_bound_noise
        return self.noise_prior if device == "cpu" else 0.0


@dataclass(frozen=True)
class Verdict:
    cell: str
    status: Status
    current_median: float
    baseline_median: float | None = None
    change: float | None = None  # current / baseline - 1
    limit: float | None = None  # relative change the cell must exceed to count
    sigma: float | None = None  # between-run relative sigma
    baseline_runs: int = 0
    p_value: float | None = None
    floor: float = 0.0  # least between-run sigma assumed for this kind of cell
    unit: str = "s"  # what current/baseline are: seconds, or "MiB" for memory verdicts
    baseline_source: str = ""
    detail: str = ""
    rounds_needed: int | None = None  # noisy: rounds of this run that would likely decide it
    baseline_runs_needed: int | None = None  # noisy: baseline runs under one name that would decide it

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "current_median_s": self.current_median,
            "baseline_median_s": self.baseline_median,
            "change": self.change,
            "limit": self.limit,
            "sigma": self.sigma,
            "baseline_runs": self.baseline_runs,
            "p_value": self.p_value,
            "baseline": self.baseline_source,
            "detail": self.detail,
            "sigma_floor": self.floor,
            "unit": self.unit,
            "rounds_needed": self.rounds_needed,
            "baseline_runs_needed": self.baseline_runs_needed,
        }

    @property
    def evidence(self) -> str:
        parts = []
        if self.limit is not None:
            parts.append(f"limit ±{self.limit:.1%}")
        if self.sigma is not None:
            parts.append(f"between-run σ {self.sigma:.1%} from {self.baseline_runs} runs")
            if self.floor:
                parts.append(f"host-bound cell: σ ≥ {self.floor:.0%}")
        elif self.baseline_runs:
            parts.append(f"{self.baseline_runs} baseline run (σ unknown, prior used)")
        if self.p_value is not None:
            parts.append(f"Mann-Whitney p={self.p_value:.2g}")
        return ", ".join(parts)

    def message(self) -> str:
        if self.unit == "MiB":
            return f"{self.cell}: {self.status.value}{': ' + self.detail if self.detail else ''}"
        if self.status is Status.NO_BASELINE or self.baseline_median is None or self.change is None:
            return f"{self.cell}: {self.status.value}{': ' + self.detail if self.detail else ''}"
        return (
            f"{self.cell}: {self.status.value}: median {_ms(self.current_median)} vs baseline "
            f"{_ms(self.baseline_median)} ({self.change:+.1%}) [{self.evidence}]"
            f"{' (baseline ' + self.baseline_source + ')' if self.baseline_source else ''}"
            f"{'; ' + self.detail if self.detail else ''}"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def rounds_to_decide(p_value: float, rounds: int, alpha: float, baseline_rounds: int) -> int | None:
    """Rounds this run would need for the rank test to reach ``alpha`` at the observed effect, or None when the
    samples show no consistent shift (more rounds would not decide it).

    The Mann-Whitney z statistic of a fixed shift grows with the square root of the sample size, so the needed size is
    the current one scaled by (z_alpha / z_observed)^2; it is also at least what an exact test needs to reach alpha
    at all (complete separation)."""
    from scipy.stats import norm

    if not 0.0 < p_value < 0.5:
        return None
    z_now, z_need = float(norm.isf(p_value)), float(norm.isf(alpha))
    needed = math.ceil(rounds * (z_need / z_now) ** 2)
    while stats.min_attainable_p(needed, baseline_rounds) >= alpha:
        needed += 1
    return max(needed, rounds + 1)


def baseline_runs_to_decide(change: float, sigma: float, floor: float, policy: GatePolicy, k: int) -> int | None:
    """Baseline runs under one name after which the between-run noise limit falls below this change (the limit
    shrinks with runs as the t quantile and sqrt(1 + 1/k) do); None when no number of runs gets it there."""
    target = abs(math.log1p(change))
    for runs in range(max(k + 1, 2), 101):
        limit = stats.prediction_limit(sigma, runs, policy.confidence)
        if floor > 0:
            limit = max(limit, stats.prior_limit(floor, runs, policy.confidence))
        if math.log1p(min(max(policy.threshold, limit), max(policy.max_limit, policy.threshold))) < target:
            return runs
    return None


def decide(
    cell: str,
    current: Sequence[float],
    baseline_runs: Sequence[Sequence[float]],
    policy: GatePolicy,
    source: str = "",
    floor: float = 0.0,
    unstable: str = "",
) -> Verdict:
    """``unstable``: why this run's device state makes a comparison meaningless (throttling, other clocks); the
    verdict is then "unstable" with the numbers kept, never regressed or improved."""
    cur_median = stats.summarize(current).median
    if not baseline_runs:
        return Verdict(cell, Status.NO_BASELINE, cur_median, detail="no stored sample for this cell")

    run_medians = [stats.summarize(run).median for run in baseline_runs]
    base = stats.center(run_medians)
    change = cur_median / base - 1.0
    sigma = stats.between_run_sigma(run_medians)
    k = len(run_medians)
    if sigma is None:
        noise_limit = math.expm1(3.0 * policy.noise_prior)
    else:
        noise_limit = stats.prediction_limit(sigma, k, policy.confidence)
        if floor > 0:
            noise_limit = max(noise_limit, stats.prior_limit(floor, k, policy.confidence))
    # Noise this large says nothing about small changes, but a change beyond max_limit still counts.
    limit = min(max(policy.threshold, noise_limit), max(policy.max_limit, policy.threshold))

    pooled = [x for run in baseline_runs for x in run]
    alternative = "greater" if change > 0 else "less"
    p_value = stats.mann_whitney_p(current, pooled, alternative)
    common = dict(
        current_median=cur_median, baseline_median=base, change=change, limit=limit, sigma=sigma,
        baseline_runs=k, p_value=p_value, baseline_source=source, floor=floor,
    )
    magnitude = abs(math.log1p(change))

    if magnitude <= math.log1p(policy.threshold):
        return Verdict(cell, Status.UNCHANGED, **common)
    if unstable:
        return Verdict(cell, Status.UNSTABLE, **common, detail=f"{unstable}; rerun on a steady GPU to compare")
    if magnitude <= math.log1p(limit):
        runs = baseline_runs_to_decide(change, sigma if sigma is not None else policy.noise_prior, floor, policy, k)
        hint = (f"save {runs - k} more baseline run(s) under one name ({runs} in all) to decide"
                if runs else "no number of baseline runs decides a change this small at this cell's noise")
        return Verdict(
            cell, Status.NOISY, **common, baseline_runs_needed=runs,
            detail=f"{change:+.1%} is beyond the {policy.threshold:.0%} threshold but within this cell's "
            f"between-run noise (±{limit:.1%}, {k} baseline run(s)); {hint}",
        )
    if p_value >= policy.alpha:
        rounds = rounds_to_decide(p_value, len(current), policy.alpha, len(pooled))
        hint = (f"about {rounds} rounds (now {len(current)}) would likely decide it: "
                f"--benchmark-min-rounds={rounds}" if rounds
                else "the samples show no consistent shift; more rounds are unlikely to decide it")
        return Verdict(cell, Status.NOISY, **common, rounds_needed=rounds,
                       detail=f"not significant (p={p_value:.2g}); {hint}")
    return Verdict(cell, Status.REGRESSED if change > 0 else Status.IMPROVED, **common)


def instability(
    before: dict[str, object], after: dict[str, object], baseline_sm_clock: float | None = None,
    clock_tolerance: float = 0.10,
) -> str:
    """Why a GPU cell's numbers cannot be compared (empty when they can): throttle reasons at its start or end,
    power/thermal violation time accumulated during it (NVML counters), or an SM clock far from the baseline's."""
    from .gpu import THROTTLING

    reasons = sorted((set(before.get("clock_event_reasons", []) or []) | set(
        after.get("clock_event_reasons", []) or [])) & THROTTLING)
    out = []
    if reasons:
        out.append("throttled (" + ", ".join(reasons) + ")")
    for key, what in (("power_violation_ns", "power"), ("thermal_violation_ns", "thermal")):
        start, end = before.get(key), after.get(key)
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end - start > 1e6:
            out.append(f"{(end - start) / 1e6:.0f} ms of {what} capping during the cell")
    clock = after.get("sm_clock_mhz")
    if baseline_sm_clock and isinstance(clock, (int, float)) and clock > 0:
        if abs(clock / baseline_sm_clock - 1.0) > clock_tolerance:
            out.append(f"SM clock {clock:.0f} MHz vs {baseline_sm_clock:.0f} MHz in the baseline")
    return "; ".join(out)


CACHED_PHASES = ("export_s", "quantize_s")  # load phases that depend on on-disk caches, not on the code under test


def cold_start_seconds(load_s: float, first_call_s: float, export_s: float = 0.0) -> float:
    """The cold start the gate compares: load and first call, without the ONNX export and int8 quantization (their
    time depends on whether the on-disk cache was warm, not on the code under test; they are reported on their
    own). ``export_s`` is the sum of those phases (`cached_seconds`). An engine build stays in: compare runs whose
    engine caches were in the same state (``details.engine_cache``)."""
    return max(load_s - export_s, 0.0) + first_call_s


def cached_seconds(phases: dict[str, object]) -> float:
    return float(sum(v for k, v in phases.items() if k in CACHED_PHASES and isinstance(v, (int, float))))


def decide_cold(cell: str, current: float, baseline: Sequence[float], policy: GatePolicy, source: str = "") -> Verdict:
    """Cold start has one value per run, so no rank test: it regresses when it moved beyond the looser cold threshold
    and beyond what the baseline runs' own spread allows."""
    if not baseline:
        return Verdict(cell, Status.NO_BASELINE, current, detail="no stored cold start for this cell")
    base = stats.center(baseline)
    change = current / base - 1.0
    sigma = stats.between_run_sigma(baseline)
    limit = policy.cold_threshold
    if sigma is not None:
        limit = max(limit, stats.prediction_limit(sigma, len(baseline), policy.confidence))
    common = dict(current_median=current, baseline_median=base, change=change, limit=limit, sigma=sigma,
                  baseline_runs=len(baseline), baseline_source=source)
    if abs(math.log1p(change)) <= math.log1p(limit):
        return Verdict(cell, Status.UNCHANGED, **common)
    return Verdict(cell, Status.REGRESSED if change > 0 else Status.IMPROVED, **common,
                   detail="cold start (load + first call, export excluded)")


def decide_memory(cell: str, current_mib: float, baseline_mib: Sequence[float], policy: GatePolicy) -> Verdict:
    """Peak memory regresses when it grew by more than the threshold in % *and* in MiB over the largest baseline run
    (memory is not noise-free, but it is bounded: the largest stored peak is the honest reference)."""
    if not baseline_mib:
        return Verdict(cell, Status.NO_BASELINE, current_mib, detail="no stored memory peak for this cell")
    base = max(baseline_mib)
    grew = current_mib - base
    change = current_mib / base - 1.0 if base > 0 else (math.inf if grew > 0 else 0.0)
    common = dict(current_median=current_mib, baseline_median=base, change=change,
                  limit=policy.memory_threshold, baseline_runs=len(baseline_mib), unit="MiB")
    if grew > policy.memory_threshold_mib and change > policy.memory_threshold:
        return Verdict(cell, Status.REGRESSED, **common,
                       detail=f"peak memory {current_mib:.0f} MiB vs {base:.0f} MiB (+{grew:.0f} MiB)")
    if -grew > policy.memory_threshold_mib and change < -policy.memory_threshold:
        return Verdict(cell, Status.IMPROVED, **common, detail=f"peak memory {current_mib:.0f} MiB vs {base:.0f} MiB")
    return Verdict(cell, Status.UNCHANGED, **common, detail=f"peak memory {current_mib:.0f} MiB vs {base:.0f} MiB")
