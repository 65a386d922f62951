"""The regression gate: compares one cell's repeats with its baseline's and returns a `Verdict`.

Each run (the current one, and each baseline run) measured the cell several times, spread over the session in time
and over worker processes; a run is judged by its fastest repeat (`stats.run_estimate`). A cell regresses only when
that figure moved by more than the configured threshold, by more than the cell's noise allows, and the shift is
significant on the raw samples of the fastest repeats (one-sided Mann-Whitney U). The noise comes from the repeats
themselves (how far apart the two fastest repeats of a run are), from the spread of several baseline runs saved
under one name, and from a least noise per kind of cell (host-bound cells). When the evidence cannot decide, the
verdict is "noisy"; the caller may then take confirmation repeats and decide again (`wants_confirmation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..measure import stats
from ..measure.results import CACHED_PHASES, Repeat, cached_seconds, cold_start_seconds, strict_json, usable  # noqa: F401
from ..report.fmt import fmt_ms


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
    confidence: float = 0.99  # prediction interval for a new run's figure given the baseline runs
    noise_prior: float = 0.10  # one repeat per run only: between-run sigma assumed when the baseline has fewer than
    # three runs, and the least sigma of CPU cells
    launch_bound_noise: float = 0.20  # one repeat per run only: least sigma of launch-bound GPU cells (their
    # single-process medians switch between a fast and a slow mode: H100 8-20 %, H200 up to 70 %)
    repeat_floor: float = 0.04  # several repeats: least sigma of the fastest-repeat figure of launch-bound GPU cells
    # (H200, 5 A/A sessions after one save: their host-normalised fastest repeat moved by up to +12.6 %)
    device_floor: float = 0.01  # least sigma of a device-bound GPU cell's figure between sessions (H200, 35 A/A
    # compares of 7 device-bound cells: rms 1.0 %, at most +3.4 %)
    max_limit: float = 0.50  # cap on the noise allowance: a larger change always counts (if significant)
    cold_threshold: float = 1.0  # cold start (load + first call) is noisier: only a change beyond this counts ...
    cold_floor_s: float = 0.25  # ... and beyond this many seconds
    memory_threshold: float = 0.10  # a memory regression exceeds both this fraction ...
    memory_threshold_mib: float = 64.0  # ... and this many MiB (and the repeats' spread, where larger)
    memory_rss_floor_mib: float = 128.0  # least MiB allowance of a CPU cell's figure (process RSS growth, which moves
    # by whatever earlier cells left to reuse: onnxruntime CPU b8 0-101 MiB over 12 repeats of 4 sessions here)
    clock_tolerance: float = 0.15  # device-bound GPU cell: SM clock this far from the baseline's is not comparable

    def floor(self, device: str, launch_bound: bool, repeats: int = 1) -> float:
        """Least between-run sigma of a cell's figure. CPU cells: a shared CPU slows down for whole sessions (this
        project's 2-core VM: all six repeats of an A/A session 26 % slower than the baseline's), which no repeat
        within a session can see, so their floor stays wide. Launch-bound GPU cells switch host modes from one repeat
        to the next (H200): a single median per run needs a wide floor, the fastest of several repeats a narrower
        one. Device-bound GPU cells move least, but by more than their repeats within one session show."""
        if device == "cpu":
            return self.noise_prior
        if not launch_bound:
            return self.device_floor
        return self.repeat_floor if repeats >= 2 else self.launch_bound_noise


@dataclass(frozen=True)
class Verdict:
    cell: str
    status: Status
    current_median: float  # the current run's figure (fastest repeat's median; memory: MiB)
    baseline_median: float | None = None
    change: float | None = None  # current / baseline - 1
    limit: float | None = None  # relative change the cell must exceed to count
    sigma: float | None = None  # between-run relative sigma of the baseline runs' figures (3 runs or more)
    baseline_runs: int = 0
    p_value: float | None = None
    floor: float = 0.0  # least between-run sigma assumed for this kind of cell
    unit: str = "s"  # what current/baseline are: seconds, or "MiB" for memory verdicts
    baseline_source: str = ""
    detail: str = ""
    rounds_needed: int | None = None  # noisy: rounds of this run that would likely decide it
    repeats: int = 0  # repeats of the current run that were compared
    baseline_repeats: int = 0  # repeats of the newest baseline run
    repeat_spread: float | None = None  # log gap between the two fastest repeats of a run (device-bound GPU cells: the
    # fastest and the slowest), the largest over the runs
    limited_by: str = ""  # which allowance set the limit: threshold, repeats, runs, floor, prior, cap
    device_bound: bool = False  # a device-bound GPU cell: its floor and repeats' spread are of that kind

    def to_json(self) -> dict[str, object]:
        """Strict JSON; the figures under names that carry their unit (seconds, or MiB for memory verdicts). An
        out-of-memory cell's current peak is infinite here and null in the JSON."""
        mib = self.unit == "MiB"
        return strict_json({
            "status": self.status.value,
            "current_mib" if mib else "current_median_s": self.current_median,
            "baseline_mib" if mib else "baseline_median_s": self.baseline_median,
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
            "repeats": self.repeats,
            "baseline_repeats": self.baseline_repeats,
            "repeat_spread": self.repeat_spread,
            "limited_by": self.limited_by,
        })

    @property
    def evidence(self) -> str:
        parts = []
        if self.limit is not None:
            parts.append(f"limit ±{self.limit:.1%}" + (f" ({self.limited_by})" if self.limited_by else ""))
        if self.repeats:
            parts.append(f"fastest of {self.repeats} repeats vs {self.baseline_repeats} per baseline run")
        if self.repeat_spread is not None:
            parts.append(f"repeats' spread {math.expm1(self.repeat_spread):.1%}")
        if self.sigma is not None:
            parts.append(f"between-run σ {self.sigma:.1%} from {self.baseline_runs} runs")
        elif self.baseline_runs:
            parts.append(f"{self.baseline_runs} baseline run(s)")
        if self.floor:
            parts.append(f"{'device' if self.device_bound else 'host'}-bound cell: σ ≥ {self.floor:.0%}")
        if self.p_value is not None:
            parts.append(f"Mann-Whitney p={self.p_value:.2g}")
        return ", ".join(parts)

    def message(self) -> str:
        if self.unit == "MiB":
            return f"{self.cell}: {self.status.value}{': ' + self.detail if self.detail else ''}"
        if self.status is Status.NO_BASELINE or self.baseline_median is None or self.change is None:
            return f"{self.cell}: {self.status.value}{': ' + self.detail if self.detail else ''}"
        return (
            f"{self.cell}: {self.status.value}: median {fmt_ms(self.current_median, 3)} vs baseline "
            f"{fmt_ms(self.baseline_median, 3)} ({self.change:+.1%}) [{self.evidence}]"
            f"{' (baseline ' + self.baseline_source + ')' if self.baseline_source else ''}"
            f"{'; ' + self.detail if self.detail else ''}"
        )


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


MIN_RUNS_FOR_SIGMA = 3  # fewer baseline runs give no usable estimate of their spread (t with 1 df is ~32)

Repeats = Sequence[Sequence[float]]  # one run of a cell: its repeats, each a sequence of raw per-call samples


def _allowances(
    current: Sequence[float], runs: Sequence[Sequence[float]], gate_policy: GatePolicy, floor: float,
    device_bound: bool = False,
) -> tuple[dict[str, float], float | None, float | None]:
    """Each noise allowance that applies (relative change), the repeats' spread and the runs' sigma."""
    k = len(runs)
    allow: dict[str, float] = {}
    spread = stats.repeat_spread([current, *runs], whole=device_bound)
    if spread is not None:
        allow["repeats"] = math.expm1(spread)
    sigma = None
    if k >= MIN_RUNS_FOR_SIGMA:
        sigma = stats.between_run_sigma([stats.run_estimate(run) for run in runs])
        if sigma is not None:
            allow["runs"] = stats.prediction_limit(sigma, k, gate_policy.confidence)
    elif max(len(run) for run in runs) < 2:
        # one repeat per baseline run and too few runs: nothing measured says how noisy the baseline's figure is
        allow["prior"] = stats.prior_limit(gate_policy.noise_prior, k, gate_policy.confidence)
    if floor > 0:
        allow["floor"] = stats.prior_limit(floor, k, gate_policy.confidence)
    return allow, spread, sigma


def decide(
    cell: str,
    current: Repeats,
    baseline_runs: Sequence[Repeats],
    gate_policy: GatePolicy,
    source: str = "",
    floor: float = 0.0,
    unstable: str = "",
    device_bound: bool = False,
) -> Verdict:
    """``current``: this run's repeats (each a sequence of raw samples); ``baseline_runs``: the baseline runs',
    newest last. ``unstable``: why this run's device state makes a comparison meaningless (throttling, other
    clocks); the verdict is then "unstable" with the numbers kept, never regressed or improved. ``device_bound``:
    a device-bound GPU cell, whose repeats' whole range counts as their spread (`stats.repeat_spread`)."""
    cur_medians = [stats.summarize(rep).median for rep in current]
    cur = stats.run_estimate(cur_medians)
    if not baseline_runs:
        return Verdict(cell, Status.NO_BASELINE, cur, detail="no stored sample for this cell",
                       repeats=len(current))

    run_medians = [[stats.summarize(rep).median for rep in run] for run in baseline_runs]
    base = stats.center([stats.run_estimate(m) for m in run_medians])
    change = cur / base - 1.0
    k = len(run_medians)
    allow, spread, sigma = _allowances(cur_medians, run_medians, gate_policy, floor, device_bound)
    # Assumed and estimated noise (prior, floor, the runs' spread) is capped: a change beyond max_limit counts however
    # noisy the cell is thought to be. The repeats' own disagreement is measured in these very runs and is not:
    # a launch-bound H200 cell whose repeats read 0.92 and 1.56 ms shows that +69 % is within its noise.
    cap = max(gate_policy.max_limit, gate_policy.threshold)
    capped = {n: min(v, cap) if n != "repeats" else v for n, v in allow.items()}
    noise_limit, limited_by = max(((v, n) for n, v in capped.items()), default=(0.0, ""))
    if noise_limit == cap and allow.get(limited_by, 0.0) > cap:
        limited_by = "cap"
    limit = max(gate_policy.threshold, noise_limit)
    if limit == gate_policy.threshold:
        limited_by = "threshold"

    # the rank test on the fastest repeats: the figures compared must come from consistently shifted samples
    fastest_current = current[stats.fastest(cur_medians)]
    pooled = [x for run, m in zip(baseline_runs, run_medians, strict=True) for x in run[stats.fastest(m)]]
    alternative = "greater" if change > 0 else "less"
    p_value = stats.mann_whitney_p(fastest_current, pooled, alternative)
    common = dict(
        current_median=cur, baseline_median=base, change=change, limit=limit, sigma=sigma,
        baseline_runs=k, p_value=p_value, baseline_source=source, floor=floor, repeats=len(current),
        baseline_repeats=len(run_medians[-1]), repeat_spread=spread, limited_by=limited_by, device_bound=device_bound,
    )
    magnitude = abs(math.log1p(change))

    if magnitude <= math.log1p(gate_policy.threshold):
        return Verdict(cell, Status.UNCHANGED, **common)
    if unstable:
        return Verdict(cell, Status.UNSTABLE, **common, detail=f"{unstable}; rerun on a steady GPU to compare")
    undecided = magnitude <= math.log1p(limit) or p_value >= gate_policy.alpha
    if undecided and change < 0:
        # "noisy" says a slowdown could not be ruled out; a speed-up within the noise is no such case
        return Verdict(cell, Status.UNCHANGED, **common,
                       detail=f"{change:+.1%} faster, but within this cell's noise (±{limit:.1%}) or not significant")
    if magnitude <= math.log1p(limit):
        if limited_by == "repeats":
            hint = ("the two fastest repeats of a run disagree by that much; more repeats (--infperf-repeats) make "
                    "the fastest reproducible")
        elif limited_by in ("runs", "prior"):
            hint = "more repeats per run (--infperf-repeats) or baseline runs under one name narrow it"
        else:
            hint = "this kind of cell cannot decide a change this small; raise --infperf-threshold or gate it elsewhere"
        return Verdict(
            cell, Status.NOISY, **common,
            detail=f"{change:+.1%} is beyond the {gate_policy.threshold:.0%} threshold but within this cell's "
            f"noise (±{limit:.1%}, {limited_by}); {hint}",
        )
    if p_value >= gate_policy.alpha:
        rounds = rounds_to_decide(p_value, len(fastest_current), gate_policy.alpha, len(pooled))
        hint = (f"about {rounds} rounds (now {len(fastest_current)}) would likely decide it: "
                f"--benchmark-min-rounds={rounds}" if rounds
                else "the samples show no consistent shift; more rounds are unlikely to decide it")
        return Verdict(cell, Status.NOISY, **common, rounds_needed=rounds,
                       detail=f"not significant (p={p_value:.2g}); {hint}")
    return Verdict(cell, Status.REGRESSED if change > 0 else Status.IMPROVED, **common)


def wants_confirmation(verdict: Verdict) -> bool:
    """A slowdown the first repeats suggest but that more repeats could still clear or decide: regressed, or
    noisy above the threshold. Improvements never fail, so they are not confirmed."""
    if verdict.change is None or verdict.change <= 0:
        return False
    return verdict.status is Status.REGRESSED or verdict.status is Status.NOISY


def instability(
    repeats: Sequence[Repeat], baseline_mhz: float | None, launch_bound: bool, gate_policy: GatePolicy
) -> str:
    """Why this run of a GPU cell cannot be compared (empty when it can): every repeat was slowed by heat or the
    hardware (a slowed repeat among steady ones is simply left out, see results.usable), or a device-bound cell's
    fastest steady repeat ran at an SM clock far from the baseline's. Running at the power cap is neither."""
    if not repeats:
        return ""
    if all(r.throttled for r in repeats):
        return f"every repeat was slowed: {repeats[0].throttled}"
    if launch_bound:
        return ""  # the GPU waits on the host: its clock says nothing about the cell's speed
    steady = usable(repeats)
    fastest = steady[stats.fastest([r.median for r in steady])]
    return clock_shift(fastest.clock.median_mhz if fastest.clock is not None else None, baseline_mhz,
                       gate_policy.clock_tolerance)


def clock_shift(current_mhz: float | None, baseline_mhz: float | None, tolerance: float) -> str:
    """A device-bound cell measured at an SM clock far from the baseline's is not comparable (empty when it is)."""
    if not current_mhz or not baseline_mhz:
        return ""
    if abs(current_mhz / baseline_mhz - 1.0) <= tolerance:
        return ""
    return f"SM clock {current_mhz:.0f} MHz vs {baseline_mhz:.0f} MHz in the baseline"


def decide_cold(
    cell: str, current: float | Sequence[float], baseline: Sequence[float], gate_policy: GatePolicy, source: str = ""
) -> Verdict:
    """Cold start has one value per repeat, so no rank test: the least of the current repeats against the baseline
    runs' least. It regresses when it moved beyond the looser cold threshold, beyond the baseline runs' own spread,
    and by more than an absolute floor (a few tens of ms on a 56 ms cold start are process noise, not a regression;
    seed 000's 65 s first request is what this gate is for)."""
    values = [current] if isinstance(current, (int, float)) else list(current)
    now = min(values)
    if not baseline:
        return Verdict(cell, Status.NO_BASELINE, now, detail="no stored cold start for this cell")
    base = stats.center(baseline)
    change = now / base - 1.0 if base > 0 else 0.0
    sigma = stats.between_run_sigma(baseline) if len(baseline) >= MIN_RUNS_FOR_SIGMA else None
    limit = gate_policy.cold_threshold
    if sigma is not None:
        limit = max(limit, stats.prediction_limit(sigma, len(baseline), gate_policy.confidence))
    common = dict(current_median=now, baseline_median=base, change=change, limit=limit, sigma=sigma,
                  baseline_runs=len(baseline), baseline_source=source, repeats=len(values))
    if abs(math.log1p(change)) <= math.log1p(limit):
        return Verdict(cell, Status.UNCHANGED, **common)
    if abs(now - base) <= gate_policy.cold_floor_s:
        return Verdict(cell, Status.UNCHANGED, **common,
                       detail=f"{now - base:+.3f} s is within the {gate_policy.cold_floor_s:g} s cold-start floor")
    return Verdict(cell, Status.REGRESSED if change > 0 else Status.IMPROVED, **common,
                   detail="cold start (load + first call, export excluded)")


def decide_values(
    cell: str, current: Sequence[float], baseline: Sequence[Sequence[float]], threshold: float, floor: float = 0.0,
    confidence: float = 0.99, source: str = "", what: str = "",
) -> Verdict:
    """A figure measured once per repeat, lower is better (a serving cell's seconds per inference, its p99): the
    least of the current repeats against the baseline runs' least (their median over runs), the same fastest-repeat
    estimator as `decide`. No rank test: one value per repeat. The limit is the threshold, the whole range of either
    run's repeats (they are spread over the session like a device-bound cell's) and the kind's floor
    (`stats.prior_limit`); a slowdown within it is `noisy`, a speed-up within it `unchanged`. ``what`` names the
    figure in the detail."""
    values = [float(v) for v in current]
    runs = [[float(v) for v in run] for run in baseline if len(run)]
    if not values:
        raise ValueError("decide_values needs at least one current value")
    now = min(values)
    if not runs:
        return Verdict(cell, Status.NO_BASELINE, now, detail=f"no stored {what or 'figure'} for this cell",
                       repeats=len(values))
    base = stats.center([min(run) for run in runs])
    change = now / base - 1.0 if base > 0 else 0.0
    spread = stats.repeat_spread([values, *runs], whole=True)
    allow = {"threshold": threshold}
    if spread is not None:
        allow["repeats"] = math.expm1(spread)
    if floor > 0:
        allow["floor"] = stats.prior_limit(floor, len(runs), confidence)
    limit, limited_by = max((v, n) for n, v in allow.items())
    common = dict(current_median=now, baseline_median=base, change=change, limit=limit, baseline_runs=len(runs),
                  baseline_source=source, floor=floor, repeats=len(values), baseline_repeats=len(runs[-1]),
                  repeat_spread=spread, limited_by=limited_by)
    magnitude = abs(math.log1p(change))
    if magnitude <= math.log1p(threshold):
        return Verdict(cell, Status.UNCHANGED, **common, detail=what)
    if magnitude <= math.log1p(limit):
        if change < 0:
            return Verdict(cell, Status.UNCHANGED, **common, detail=f"{what}: {change:+.1%} faster, within the noise")
        return Verdict(cell, Status.NOISY, **common,
                       detail=f"{what}: {change:+.1%} is beyond the {threshold:.0%} threshold but within this "
                              f"cell's noise (±{limit:.1%}, {limited_by}); more repeats or baseline runs narrow it")
    return Verdict(cell, Status.REGRESSED if change > 0 else Status.IMPROVED, **common, detail=what)


def decide_memory(cell: str, current: Sequence[float], baseline: Sequence[Sequence[float]], gate_policy: GatePolicy,
                  rss: bool = False) -> Verdict:
    """Peak memory regresses when each run's least repeat peak grew by more than the threshold in % *and* by more
    than the MiB allowance over the largest baseline run (the largest stored figure is the honest reference).

    The allowance is the MiB floor (``rss``: process RSS growth, at least ``memory_rss_floor_mib``), or the spread of
    the repeats' peaks within either run where that is larger: a peak only grows by interference, and how far the
    repeats of one run disagree is the measured part of that. A model that needs more memory raises every repeat's
    peak, its least one too."""
    current = [float(p) for p in current]
    if not current:
        raise ValueError("decide_memory needs at least one current peak")
    now = min(current)
    runs = [[float(p) for p in run] for run in baseline if len(run)]
    if not runs:
        return Verdict(cell, Status.NO_BASELINE, now, detail="no stored memory peak for this cell", unit="MiB")
    base = max(min(run) for run in runs)
    spread = max(max(run) - min(run) for run in (current, *runs))
    floor = max(gate_policy.memory_threshold_mib, gate_policy.memory_rss_floor_mib if rss else 0.0)
    allowance = max(floor, spread)
    grew = now - base
    change = grew / max(base, 1.0)  # finite: a baseline peak of 0 MiB counts as 1 MiB
    common = dict(current_median=now, baseline_median=base, change=change, limit=gate_policy.memory_threshold,
                  baseline_runs=len(runs), unit="MiB", repeats=len(current))
    shown = f"peak memory {now:.0f} MiB vs {base:.0f} MiB"
    if spread > floor:
        why = f"allowance {allowance:.0f} MiB: the repeats' spread"
    else:
        kind = "RSS floor" if floor > gate_policy.memory_threshold_mib else "threshold"
        why = f"allowance {allowance:.0f} MiB: {kind}"
    if grew > allowance and change > gate_policy.memory_threshold:
        return Verdict(cell, Status.REGRESSED, **common, detail=f"{shown} (+{grew:.0f} MiB; {why})")
    if -grew > allowance and change < -gate_policy.memory_threshold:
        return Verdict(cell, Status.IMPROVED, **common, detail=f"{shown} ({grew:.0f} MiB; {why})")
    return Verdict(cell, Status.UNCHANGED, **common, detail=f"{shown} ({grew:+.0f} MiB; {why})")
