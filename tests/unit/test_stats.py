"""Direct tests of pytest_infperf.measure.stats: the figures the gate and the reports are built on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_infperf.measure import stats
from pytest_infperf.measure.stats import summarize


def test_summarize_gives_median_spread_and_pytest_benchmarks_quartiles():
    data = [3.0, 1.0, 2.0, 5.0, 4.0]
    s = stats.summarize(data)
    assert (s.n, s.median, s.min, s.max) == (5, 3.0, 1.0, 5.0)
    assert (s.q1, s.q3) == stats.quartiles(data)
    assert s.iqr == s.q3 - s.q1 and s.rel_iqr == pytest.approx(s.iqr / 3.0)
    assert s.mean == pytest.approx(3.0) and s.stdev == pytest.approx(np.std(data, ddof=1))


def test_run_estimate_is_the_fastest_repeat_and_spread_the_gap_to_the_next():
    assert stats.run_estimate([2.0, 1.0, 1.5]) == 1.0
    assert stats.fastest([2.0, 1.0, 1.5]) == 1
    assert stats.repeat_spread([[2.0, 1.0, 1.5]]) == pytest.approx(math.log(1.5))
    # the largest gap over the runs; runs of one repeat have none
    assert stats.repeat_spread([[1.0, 1.1], [1.0, 2.0], [5.0]]) == pytest.approx(math.log(2.0))
    assert stats.repeat_spread([[1.0], [2.0]]) is None


def test_between_run_sigma_and_limits_grow_with_noise_and_shrink_with_runs():
    assert stats.between_run_sigma([1.0]) is None
    assert stats.between_run_sigma([1.0, 1.0, 1.0]) == 0.0
    tight, loose = stats.between_run_sigma([1.0, 1.01, 0.99]), stats.between_run_sigma([1.0, 1.2, 0.8])
    assert tight is not None and loose is not None and tight < loose
    assert stats.prediction_limit(0.05, 3, 0.99) > stats.prediction_limit(0.05, 10, 0.99) > 0
    assert stats.prior_limit(0.10, 1, 0.99) > stats.prior_limit(0.10, 5, 0.99) > 0
    assert stats.center([1.0, 4.0]) == pytest.approx(2.0)  # geometric mean


def test_mann_whitney_sees_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    base = list(1.0 + rng.normal(0, 0.01, 30))
    assert stats.mann_whitney_p([x * 1.1 for x in base], base, "greater") < 1e-6
    assert stats.mann_whitney_p(list(1.0 + rng.normal(0, 0.01, 30)), base, "greater") > 0.01
    assert stats.min_attainable_p(3, 3) == pytest.approx(1 / 20)


def test_quartiles_follow_pytest_benchmarks_definition():
    from pytest_benchmark.stats import Stats

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 57, 100):
        data = list(rng.lognormal(0.0, 0.3, n))
        ours, theirs = summarize(data), Stats()
        for x in data:
            theirs.update(x)
        assert (ours.q1, ours.q3) == pytest.approx((theirs.q1, theirs.q3), rel=1e-12), n
    assert summarize([1.0, 2.0, 3.0, 4.0]).q1 == 1.5  # numpy's linear percentile says 1.75
