"""Pure statistics on raw samples. numpy and scipy do the arithmetic; nothing here touches pytest or hardware."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Robust summary of one cell's per-call samples (seconds)."""

    n: int
    median: float
    mean: float
    stdev: float
    min: float
    max: float
    q1: float
    q3: float
    p90: float
    p99: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def rel_iqr(self) -> float:
        """IQR relative to the median: the cell's within-run spread."""
        return self.iqr / self.median if self.median > 0 else math.inf


def quartiles(samples: Sequence[float]) -> tuple[float, float]:
    """Q1 and Q3 exactly as pytest-benchmark's ``Stats.q1``/``q3`` compute them (Wikipedia's "Computing methods":
    method 3 for an odd number of samples, method 2, the medians of the lower and upper halves, for an even one),
    so that our summary and the ``stats`` of the same cell in its JSON never disagree."""
    data = sorted(float(x) for x in samples)
    n = len(data)
    if n == 1:
        return data[0], data[0]
    if n % 2 == 0:
        return float(np.median(data[: n // 2])), float(np.median(data[n // 2 :]))
    k, r = divmod(n, 4)
    if r == 1:
        return 0.25 * data[k - 1] + 0.75 * data[k], 0.75 * data[3 * k] + 0.25 * data[3 * k + 1]
    return 0.75 * data[k] + 0.25 * data[k + 1], 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2]


def summarize(samples: Sequence[float]) -> Summary:
    data = np.asarray(samples, dtype=float)
    if data.size == 0:
        raise ValueError("summarize() needs at least one sample")
    med, p90, p99 = np.percentile(data, [50, 90, 99])
    q1, q3 = quartiles(samples)
    return Summary(
        n=int(data.size),
        median=float(med),
        mean=float(data.mean()),
        stdev=float(data.std(ddof=1)) if data.size > 1 else 0.0,
        min=float(data.min()),
        max=float(data.max()),
        q1=float(q1),
        q3=float(q3),
        p90=float(p90),
        p99=float(p99),
    )


def mann_whitney_p(current: Sequence[float], baseline: Sequence[float], alternative: str) -> float:
    """One-sided Mann-Whitney U p-value that ``current`` is stochastically greater/less than ``baseline``."""
    from scipy.stats import mannwhitneyu  # lazy: scipy costs ~0.3 s to import

    if len(current) == 0 or len(baseline) == 0:
        return 1.0
    return float(mannwhitneyu(current, baseline, alternative=alternative).pvalue)


def min_attainable_p(n1: int, n2: int) -> float:
    """The smallest one-sided p an exact Mann-Whitney test can give for these sample sizes (complete separation)."""
    return 1.0 / math.comb(n1 + n2, n1) if n1 and n2 else 1.0


def between_run_sigma(run_medians: Sequence[float]) -> float | None:
    """Relative standard deviation of independent runs' medians (std of log medians); None with fewer than 2 runs."""
    if len(run_medians) < 2:
        return None
    logs = np.log(np.asarray(run_medians, dtype=float))
    return float(logs.std(ddof=1))


def prediction_limit(sigma: float, runs: int, confidence: float) -> float:
    """Relative change a new run's median may show against the mean of ``runs`` runs by noise alone.

    One-sided Student-t prediction interval on log medians: t(confidence, runs-1) * sigma * sqrt(1 + 1/runs).
    """
    from scipy.stats import t

    return float(math.expm1(t.ppf(confidence, runs - 1) * sigma * math.sqrt(1.0 + 1.0 / runs)))


def center(run_medians: Sequence[float]) -> float:
    """Geometric mean of the runs' medians: the baseline's central value."""
    return float(np.exp(np.mean(np.log(np.asarray(run_medians, dtype=float)))))


def prior_limit(sigma: float, runs: int, confidence: float) -> float:
    """Like `prediction_limit` for a known sigma (a prior, not an estimate): normal instead of Student-t quantile."""
    from scipy.stats import norm

    return float(math.expm1(norm.ppf(confidence) * sigma * math.sqrt(1.0 + 1.0 / runs)))


def fastest(medians: Sequence[float]) -> int:
    """Index of the fastest repeat: the statistic a run is judged by (see `run_estimate`)."""
    return int(np.argmin(np.asarray(medians, dtype=float)))


def run_estimate(repeat_medians: Sequence[float]) -> float:
    """One run's figure for a cell: the least of its repeats' medians.

    Interference (another process, a slow host mode, a clock ramp) only ever adds time, so the fastest of a few
    repeats spread over a session is the stable figure: on an H200 the per-process medians of a launch-bound cell
    moved by up to 55 % while the minimum of any three of them moved by 1-3 % (Chen & Revels 2016 take the minimum
    for the same reason). Both sides of a compare are judged by it."""
    return float(min(repeat_medians))


def repeat_spread(runs: Sequence[Sequence[float]], whole: bool = False) -> float | None:
    """How far the two fastest repeats of a run are apart (log ratio), the largest over the runs that have two or
    more repeats; None when none has. When the fastest repeat stands alone far below the next one, the minimum
    is not yet reproducible, and a change smaller than that gap cannot be told from noise.

    ``whole``: the fastest and the slowest repeat instead (device-bound GPU cells). Their repeats do not spread by
    one-sided interference but sit in a few close modes (onnxruntime CUDA fp16 b64 on the H200: 2.555, 2.579 and
    2.645 ms in one run, all three at 2.64 ms in a later session), so the whole range is what a later run's
    fastest repeat may land anywhere in."""
    gaps = []
    for medians in runs:
        if len(medians) >= 2:
            ordered = sorted(medians)
            gaps.append(math.log((ordered[-1] if whole else ordered[1]) / ordered[0]))
    return max(gaps) if gaps else None
