"""The gate's decision on synthetic raw samples."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_infperf.gate import GatePolicy, Status, decide


def run(median: float, n: int = 30, spread: float = 0.03, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(median * np.exp(rng.normal(0.0, spread, n)))


POLICY = GatePolicy(threshold=0.10)
HISTORY = [run(1.00, seed=1), run(1.02, seed=2), run(0.99, seed=3)]


def test_no_baseline():
    assert decide("c", run(1.0), [], POLICY).status is Status.NO_BASELINE


def test_aa_is_unchanged():
    verdict = decide("c", run(1.01, seed=9), HISTORY, POLICY)
    assert verdict.status is Status.UNCHANGED
    assert verdict.baseline_runs == 3


def test_doubling_regresses_with_evidence_in_the_message():
    verdict = decide("torch-cpu-fp32-b8", run(2.0, seed=9), HISTORY, POLICY, source="0003_main.json")
    assert verdict.status is Status.REGRESSED
    assert verdict.change == pytest.approx(1.0, abs=0.05)
    message = verdict.message()
    for part in ("torch-cpu-fp32-b8", "regressed", "vs baseline", "+", "Mann-Whitney p=", "between-run σ",
                 "0003_main.json"):
        assert part in message


def test_halving_is_an_improvement_not_a_failure():
    assert decide("c", run(0.5, seed=9), HISTORY, POLICY).status is Status.IMPROVED


def test_change_within_between_run_noise_is_noisy_not_regressed():
    # run medians scattered by ~15%: a 25% slowdown cannot be told from noise
    wide = [run(m, seed=s) for s, m in enumerate([0.85, 1.0, 1.15])]
    verdict = decide("c", run(1.25, seed=9), wide, POLICY)
    assert verdict.status is Status.NOISY
    assert "between-run noise" in verdict.detail
    assert verdict.limit is not None and verdict.limit > 0.25


def test_large_change_counts_even_in_a_very_noisy_cell():
    wide = [run(m, seed=s) for s, m in enumerate([0.6, 1.0, 1.6])]
    assert decide("c", run(2.2, seed=9), wide, POLICY).status is Status.REGRESSED


def test_single_baseline_run_uses_the_prior():
    one = [run(1.0, seed=1)]
    # prior sigma 10% -> limit e^(0.3)-1 = 35%: +25% is noisy, +100% regresses
    assert decide("c", run(1.25, seed=9), one, POLICY).status is Status.NOISY
    verdict = decide("c", run(2.0, seed=9), one, POLICY)
    assert verdict.status is Status.REGRESSED
    assert verdict.sigma is None and "prior" in verdict.evidence


def test_not_significant_with_too_few_rounds_is_noisy_and_says_why():
    verdict = decide("c", [2.0, 2.0], [[1.0, 1.0]], POLICY)
    assert verdict.status is Status.NOISY
    assert "cannot reach p<0.01" in verdict.detail


def test_threshold_is_respected():
    loose = GatePolicy(threshold=0.5)
    assert decide("c", run(1.3, seed=9), HISTORY, loose).status is Status.UNCHANGED
    assert decide("c", run(1.3, seed=9), HISTORY, POLICY).status is Status.REGRESSED


def test_host_bound_cells_get_the_prior_as_noise_floor():
    # three baseline runs that happen to agree closely; a host-bound cell (CPU, launch-bound GPU) still moves ~20%
    # between processes, so +20% there is noisy, while a device-bound cell with the same history regresses
    tight = [run(1.0, seed=1), run(1.003, seed=2), run(0.998, seed=3)]
    cpu = decide("c", run(1.2, seed=9), tight, POLICY, floor=POLICY.floor("cpu", launch_bound=False))
    device = decide("c", run(1.2, seed=9), tight, POLICY, floor=POLICY.floor("cuda", launch_bound=False))
    assert cpu.status is Status.NOISY and "host-bound cell: σ ≥ 10%" in cpu.evidence
    assert device.status is Status.REGRESSED
    launch = POLICY.floor("cuda", launch_bound=True)
    assert decide("c", run(1.4, seed=9), tight, POLICY, floor=launch).status is Status.NOISY
    assert decide("c", run(2.0, seed=9), tight, POLICY, floor=launch).status is Status.REGRESSED


def test_cold_start_uses_its_looser_threshold():
    from pytest_infperf.gate import cold_start_seconds, decide_cold

    base = [10.0, 11.0, 10.5]
    assert decide_cold("c", 15.0, base, POLICY).status is Status.UNCHANGED  # +43 %: within 100 %
    assert decide_cold("c", 65.0, base, POLICY).status is Status.REGRESSED  # seed 000's 65 s first request
    assert decide_cold("c", 4.0, base, POLICY).status is Status.IMPROVED
    assert decide_cold("c", 65.0, [], POLICY).status is Status.NO_BASELINE
    assert cold_start_seconds(load_s=5.0, first_call_s=1.0, export_s=4.0) == 2.0


def test_memory_needs_both_percent_and_mib():
    from pytest_infperf.gate import decide_memory

    assert decide_memory("c", 1100.0, [1000.0, 1010.0], POLICY).status is Status.UNCHANGED  # +8.9 %
    assert decide_memory("c", 1200.0, [1000.0, 1010.0], POLICY).status is Status.REGRESSED  # +18.8 %, +190 MiB
    assert decide_memory("c", 50.0, [20.0], POLICY).status is Status.UNCHANGED  # +150 % but only +30 MiB
    assert decide_memory("c", 500.0, [1000.0], POLICY).status is Status.IMPROVED
    assert decide_memory("c", 5.0, [], POLICY).status is Status.NO_BASELINE
