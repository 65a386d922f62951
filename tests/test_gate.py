"""The gate's decision on synthetic raw samples."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_infperf import gate
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
    assert verdict.rounds_needed is not None and verdict.rounds_needed > 2
    assert f"--benchmark-min-rounds={verdict.rounds_needed}" in verdict.detail


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
    from pytest_infperf.gate import cached_seconds

    assert cached_seconds({"export_s": 4.0, "quantize_s": 2.5, "build_s": 9.0, "note": "x"}) == 6.5


def test_memory_needs_both_percent_and_mib():
    from pytest_infperf.gate import decide_memory

    assert decide_memory("c", 1100.0, [1000.0, 1010.0], POLICY).status is Status.UNCHANGED  # +8.9 %
    assert decide_memory("c", 1200.0, [1000.0, 1010.0], POLICY).status is Status.REGRESSED  # +18.8 %, +190 MiB
    assert decide_memory("c", 50.0, [20.0], POLICY).status is Status.UNCHANGED  # +150 % but only +30 MiB
    assert decide_memory("c", 500.0, [1000.0], POLICY).status is Status.IMPROVED
    assert decide_memory("c", 5.0, [], POLICY).status is Status.NO_BASELINE


# -- noisy: how much more evidence would decide; unstable: throttled or off-clock GPU cells --------------------------


def test_noisy_from_overlap_says_how_many_rounds_would_decide() -> None:
    rng = np.random.default_rng(3)
    base = [tuple(rng.normal(1.0, 0.2, 10).clip(0.1))]
    cur = tuple(rng.normal(1.3, 0.2, 6).clip(0.1))
    verdict = gate.decide("c", cur, base, gate.GatePolicy(noise_prior=0.0, max_limit=0.2, threshold=0.1))
    assert verdict.status is gate.Status.NOISY and verdict.rounds_needed is not None
    assert verdict.rounds_needed > len(cur)
    assert f"--benchmark-min-rounds={verdict.rounds_needed}" in verdict.message()
    # taking that many rounds of the same shift does decide it
    more = tuple(rng.normal(1.3, 0.2, verdict.rounds_needed * 2).clip(0.1))
    again = gate.decide("c", more, base, gate.GatePolicy(noise_prior=0.0, max_limit=0.2, threshold=0.1))
    assert again.status is gate.Status.REGRESSED


def test_rounds_to_decide() -> None:
    assert gate.rounds_to_decide(0.5, 10, 0.01, 10) is None  # no shift at all: more rounds do not help
    assert gate.rounds_to_decide(0.7, 10, 0.01, 10) is None
    small, large = gate.rounds_to_decide(0.05, 10, 0.01, 10), gate.rounds_to_decide(0.2, 10, 0.01, 10)
    assert small is not None and large is not None and 10 < small < large
    assert gate.stats.min_attainable_p(gate.rounds_to_decide(0.3, 2, 0.01, 3), 3) < 0.01


def test_noisy_within_between_run_noise_says_how_many_baseline_runs() -> None:
    runs = [tuple([m] * 20) for m in (1.0, 1.15, 0.9)]  # sigma ~12 %
    policy = gate.GatePolicy()
    verdict = gate.decide("c", tuple([1.5] * 20), runs, policy)
    assert verdict.status is gate.Status.NOISY
    assert verdict.baseline_runs_needed is not None and verdict.baseline_runs_needed > 3
    assert f"({verdict.baseline_runs_needed} in all)" in verdict.message()
    hopeless = gate.decide("c", tuple([1.12] * 20), runs, gate.GatePolicy(threshold=0.05))
    assert hopeless.status is gate.Status.NOISY and hopeless.baseline_runs_needed is None
    assert "no number of baseline runs" in hopeless.message()


def test_throttled_or_off_clock_gpu_cells_are_unstable_not_regressed() -> None:
    base = [tuple([1.0] * 20)] * 2
    slow = tuple([2.0] * 20)
    steady = {"sm_clock_mhz": 1980, "clock_event_reasons": [], "power_violation_ns": 10, "thermal_violation_ns": 0}
    assert gate.instability(steady, steady, 1980) == ""
    capped = {**steady, "power_violation_ns": 10 + 250_000_000}
    assert "250 ms of power capping" in gate.instability(steady, capped, 1980)
    assert "throttled (hw_slowdown)" in gate.instability({**steady, "clock_event_reasons": ["hw_slowdown"]}, steady)
    assert "SM clock 1410 MHz vs 1980 MHz" in gate.instability(steady, {**steady, "sm_clock_mhz": 1410}, 1980)
    assert gate.instability(steady, {**steady, "clock_event_reasons": ["gpu_idle"]}, 1980) == ""
    reason = gate.instability(steady, capped, 1980)
    verdict = gate.decide("c", slow, base, gate.GatePolicy(), unstable=reason)
    assert verdict.status is gate.Status.UNSTABLE and verdict.change == pytest.approx(1.0)
    assert "rerun on a steady GPU" in verdict.message()
    small = gate.decide("c", tuple([1.01] * 20), base, gate.GatePolicy(), unstable=reason)
    assert small.status is gate.Status.UNCHANGED
