"""The gate's decision on synthetic raw samples: repeats per run, the fastest-repeat estimator, noise, floors,
power cap vs throttling, cold start."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pytest_infperf.compare import gate
from pytest_infperf.compare.gate import GatePolicy, Status, Verdict, decide
from pytest_infperf.gpu import ClockStats
from pytest_infperf.measure import stats
from pytest_infperf.measure.results import ColdStart, Repeat, usable
from pytest_infperf.measure.timing import Timing


def samples(median: float, n: int = 30, spread: float = 0.03, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(median * np.exp(rng.normal(0.0, spread, n)))


def repeats(*medians: float, seed: int = 0, n: int = 30, spread: float = 0.03) -> list[list[float]]:
    """One run: a repeat per median."""
    return [samples(m, n=n, spread=spread, seed=seed * 100 + i) for i, m in enumerate(medians)]


POLICY = GatePolicy(threshold=0.10)
ONE_SAVE = [repeats(1.00, 1.02, 0.99, seed=1)]  # one baseline run of three repeats


def test_no_baseline():
    assert decide("c", repeats(1.0), [], POLICY).status is Status.NO_BASELINE


def test_estimator_is_the_fastest_repeat_and_spread_is_the_gap_of_the_two_fastest():
    assert stats.run_estimate([1.3, 1.0, 2.2]) == 1.0
    assert stats.fastest([1.3, 1.0, 2.2]) == 1
    assert stats.repeat_spread([[1.3, 1.0, 2.2], [5.0]]) == pytest.approx(np.log(1.3))
    assert stats.repeat_spread([[1.0], [2.0]]) is None
    assert stats.repeat_spread([[1.3, 1.0, 2.2], [5.0]], whole=True) == pytest.approx(np.log(2.2))


def test_aa_with_one_save_is_unchanged():
    verdict = decide("c", repeats(1.01, 0.995, 1.02, seed=9), ONE_SAVE, POLICY)
    assert verdict.status is Status.UNCHANGED
    assert (verdict.baseline_runs, verdict.repeats, verdict.baseline_repeats) == (1, 3, 3)


def test_doubling_regresses_with_evidence_in_the_message():
    verdict = decide("torch-cpu-fp32-b8", repeats(2.0, 2.05, 1.98, seed=9), ONE_SAVE, POLICY,
                     source="0003_main.json")
    assert verdict.status is Status.REGRESSED
    assert verdict.change == pytest.approx(1.0, abs=0.05)
    message = verdict.message()
    for part in ("torch-cpu-fp32-b8", "regressed", "median", "vs baseline", "+", "Mann-Whitney p=",
                 "fastest of 3 repeats", "0003_main.json"):
        assert part in message


def test_halving_is_an_improvement_not_a_failure():
    assert decide("c", repeats(0.5, 0.51, 0.5, seed=9), ONE_SAVE, POLICY).status is Status.IMPROVED


def test_slow_mode_repeats_do_not_move_the_figure():
    # a launch-bound cell: its repeats switch between a fast (1.34 ms) and a slow (2.28 ms) host mode (H200)
    base = [repeats(1.34, 2.28, 1.37, seed=1)]
    aa = decide("c", repeats(2.10, 1.35, 2.31, seed=2), base, POLICY, floor=POLICY.floor("cuda", True, 3))
    assert aa.status is Status.UNCHANGED, aa.message()
    slower = decide("c", repeats(2.80, 1.70, 1.72, seed=3), base, POLICY, floor=POLICY.floor("cuda", True, 3))
    assert slower.status is Status.REGRESSED, slower.message()  # +25 % of the fast mode


def test_a_lone_fast_repeat_makes_a_moderate_change_noisy_and_says_so():
    base = [repeats(1.0, 1.30, 1.32, seed=1)]  # the fastest repeat stands 30 % below the next one
    verdict = decide("c", repeats(1.2, 1.21, 1.25, seed=9), base, POLICY)
    assert verdict.status is Status.NOISY and verdict.limited_by == "repeats"
    assert "--infperf-repeats" in verdict.detail
    assert verdict.repeat_spread == pytest.approx(np.log(1.30), abs=0.02)


def test_large_change_counts_even_in_a_very_noisy_cell():
    # assumed noise is capped: one repeat per run, a host-bound floor of 20 % would allow +93 %, the cap allows 50 %
    one = [repeats(1.0, seed=1)]
    verdict = decide("c", repeats(1.7, seed=9), one, POLICY, floor=POLICY.floor("cuda", True, 1))
    assert verdict.status is Status.REGRESSED and verdict.limited_by == "cap"
    # the repeats' measured disagreement is not: a cell whose repeats read 0.92 and 1.56 ms moved +69 % by noise
    base = [repeats(0.92, 1.56, 1.58, seed=1)]
    aa = decide("c", repeats(1.55, 1.57, 1.60, seed=9), base, POLICY)
    assert aa.status is Status.NOISY and aa.limited_by == "repeats" and aa.limit > 0.65
    # and a change beyond that disagreement still counts
    assert decide("c", repeats(2.2, 2.3, 2.25, seed=9), base, POLICY).status is Status.REGRESSED


def test_single_repeat_single_run_uses_the_prior():
    one = [repeats(1.0, seed=1)]
    # prior sigma 10 % -> limit e^(2.33 * 0.1 * sqrt 2) - 1 = 39 %: +25 % is noisy, +100 % regresses
    assert decide("c", repeats(1.25, seed=9), one, POLICY).status is Status.NOISY
    verdict = decide("c", repeats(2.0, seed=9), one, POLICY)
    assert verdict.status is Status.REGRESSED
    assert verdict.sigma is None and verdict.limited_by == "prior"


SEVERITY = {Status.IMPROVED: 0, Status.UNCHANGED: 0, Status.NOISY: 1, Status.REGRESSED: 2}


@pytest.mark.parametrize("per_run", [1, 3])
@pytest.mark.parametrize(("device", "launch_bound"), [("cuda", True), ("cpu", False), ("cuda", False)])
def test_more_baseline_runs_of_the_same_data_are_never_more_lenient(per_run, device, launch_bound):
    """The single-run defect: the launch-bound floor was ignored with one baseline run, so +40 % was regressed with
    one run and noisy with two runs of the same data."""
    run = repeats(*[1.0] * per_run, seed=1, spread=0.01)
    for change, k in itertools.product((0.05, 0.12, 0.25, 0.4, 0.6, 1.0), (1, 2, 3, 5)):
        current = repeats(*[1.0 + change] * per_run, seed=9, spread=0.01)
        floor = POLICY.floor(device, launch_bound, per_run)
        fewer = decide("c", current, [run] * k, POLICY, floor=floor)
        more = decide("c", current, [run] * (k + 1), POLICY, floor=floor)
        assert SEVERITY[more.status] >= SEVERITY[fewer.status], (change, k, fewer.message(), more.message())


def test_single_run_launch_bound_change_gets_the_floor():
    one = [repeats(1.0, seed=1, spread=0.01)]
    floor = POLICY.floor("cuda", launch_bound=True, repeats=1)
    assert floor == POLICY.launch_bound_noise
    verdict = decide("c", repeats(1.4, seed=9, spread=0.01), one, POLICY, floor=floor)
    assert verdict.status is Status.NOISY and verdict.limit == pytest.approx(POLICY.max_limit)


def test_floors_are_per_kind_of_cell_and_narrow_with_repeats():
    assert POLICY.floor("cuda", launch_bound=False, repeats=1) == POLICY.device_floor == 0.01
    assert POLICY.floor("cpu", launch_bound=False, repeats=1) == POLICY.noise_prior
    assert POLICY.floor("cuda", launch_bound=True, repeats=1) == POLICY.launch_bound_noise
    assert POLICY.floor("cpu", launch_bound=False, repeats=3) == POLICY.noise_prior  # whole sessions drift on a CPU
    assert POLICY.floor("cuda", launch_bound=True, repeats=3) == POLICY.repeat_floor == 0.04
    assert POLICY.floor("cuda", launch_bound=False, repeats=3) == POLICY.device_floor
    # one repeat per run: three close runs of a host-bound cell still allow +20 %; the device-bound cell regresses
    tight = [repeats(1.0, seed=1), repeats(1.003, seed=2), repeats(0.998, seed=3)]
    cpu = decide("c", repeats(1.2, seed=9), tight, POLICY, floor=POLICY.floor("cpu", False, 1))
    device = decide("c", repeats(1.2, seed=9), tight, POLICY, floor=POLICY.floor("cuda", False, 1),
                    device_bound=True)
    assert cpu.status is Status.NOISY and "host-bound cell: σ ≥ 10%" in cpu.evidence
    assert device.status is Status.REGRESSED and "device-bound cell: σ ≥ 1%" in device.evidence


THRESHOLD_3 = GatePolicy(threshold=0.03)


def test_at_threshold_3_a_device_bound_cell_in_its_slower_mode_is_not_a_regression():
    # onnxruntime CUDA fp16 b64 on the H200 (fourth session): the save's repeats 2.555/2.579/2.645 ms, a later A/A
    # session's all at 2.64 ms (+3.4 %). The whole range of the save's repeats (3.5 %) is its measured spread.
    base = [repeats(2.555, 2.579, 2.645, seed=1, spread=0.002)]
    current = repeats(2.642, 2.642, 2.651, seed=2, spread=0.002)
    floor = THRESHOLD_3.floor("cuda", False, 3)
    verdict = decide("onnxruntime-cuda-fp16-b64", current, base, THRESHOLD_3, floor=floor, device_bound=True)
    assert verdict.status is Status.NOISY and verdict.limited_by == "repeats", verdict.message()
    assert verdict.repeat_spread == pytest.approx(math.log(2.645 / 2.555), abs=0.003)
    # judged by the gap of the two fastest repeats only (0.9 %), the same A/A would fail
    assert decide("c", current, base, THRESHOLD_3, floor=floor).status is Status.REGRESSED


def test_at_threshold_3_a_5_percent_slowdown_of_a_tight_device_bound_cell_regresses():
    # conv stack on the H200: repeats within 0.6-1.7 %, 1.05x seen as +4.4 %: beyond the 1 % floor's 3.3 % limit
    base = [repeats(3.822, 3.83, 3.845, seed=1, spread=0.002)]
    floor = THRESHOLD_3.floor("cuda", False, 3)
    slower = decide("c", repeats(3.99, 4.02, 4.05, seed=2, spread=0.002), base, THRESHOLD_3, floor=floor,
                    device_bound=True)
    assert slower.status is Status.REGRESSED and slower.limited_by == "floor", slower.message()
    assert slower.limit == pytest.approx(stats.prior_limit(0.01, 1, THRESHOLD_3.confidence))
    same = decide("c", repeats(3.83, 3.84, 3.85, seed=3, spread=0.002), base, THRESHOLD_3, floor=floor,
                  device_bound=True)
    assert same.status is Status.UNCHANGED


def test_at_threshold_3_a_launch_bound_cell_within_its_floor_is_noisy_and_25_percent_regresses():
    # launch-bound H200 cells: fastest repeat +7.6 ... +12.6 % between A/A sessions (host-normalised)
    base = [repeats(1.355, 1.39, 1.76, seed=1, spread=0.01)]
    floor = THRESHOLD_3.floor("cuda", True, 3)
    aa = decide("c", repeats(1.458, 1.506, 1.51, seed=2, spread=0.01), base, THRESHOLD_3, floor=floor)
    assert aa.status is Status.NOISY and aa.limited_by == "floor", aa.message()
    slower = decide("c", repeats(1.70, 1.72, 1.75, seed=3, spread=0.01), base, THRESHOLD_3, floor=floor)
    assert slower.status is Status.REGRESSED, slower.message()


def test_a_small_threshold_decides_a_small_change_of_a_device_bound_cell():
    tight = GatePolicy(threshold=0.03)
    base = [repeats(3.20, 3.21, 3.22, seed=1, spread=0.002)]
    assert decide("c", repeats(3.21, 3.22, 3.20, seed=2, spread=0.002), base, tight).status is Status.UNCHANGED
    slower = decide("c", repeats(3.36, 3.37, 3.36, seed=3, spread=0.002), base, tight)  # +5 %
    assert slower.status is Status.REGRESSED and slower.limited_by == "threshold"


def test_several_runs_bound_the_limit_by_their_spread():
    runs = [repeats(m, m * 1.01, seed=s) for s, m in enumerate((1.0, 1.15, 0.9))]  # the runs' figures ~12 % apart
    verdict = decide("c", repeats(1.4, 1.42, seed=9), runs, POLICY)
    assert verdict.status is Status.NOISY and verdict.limited_by in ("runs", "cap")
    assert verdict.sigma is not None and verdict.sigma > 0.1


def test_not_significant_with_too_few_rounds_is_noisy_and_says_why():
    verdict = decide("c", [[2.0, 2.0]], [[[1.0, 1.0]]], GatePolicy(threshold=0.10, noise_prior=0.0))
    assert verdict.status is Status.NOISY
    assert verdict.rounds_needed is not None and verdict.rounds_needed > 2
    assert f"--benchmark-min-rounds={verdict.rounds_needed}" in verdict.detail


def test_threshold_is_respected():
    loose = GatePolicy(threshold=0.5)
    current = repeats(1.3, 1.31, 1.32, seed=9)
    assert decide("c", current, ONE_SAVE, loose).status is Status.UNCHANGED
    assert decide("c", current, ONE_SAVE, POLICY).status is Status.REGRESSED


def test_a_speed_up_within_the_noise_is_unchanged_not_noisy():
    base = [repeats(0.92, 1.56, 1.58, seed=1)]
    verdict = decide("c", repeats(0.80, 1.50, 1.52, seed=9), base, POLICY)  # -13 %, repeats disagree by 70 %
    assert verdict.status is Status.UNCHANGED and "faster, but within this cell's noise" in verdict.detail
    assert decide("c", repeats(1.08, 1.50, 1.52, seed=9), base, POLICY).status is Status.NOISY  # +17 %: noisy


def test_what_wants_confirmation():
    assert gate.wants_confirmation(decide("c", repeats(2.0, 2.0, 2.0, seed=9), ONE_SAVE, POLICY))
    noisy = decide("c", repeats(1.2, 1.21, 1.25, seed=9), [repeats(1.0, 1.30, 1.32, seed=1)], POLICY)
    assert gate.wants_confirmation(noisy)
    assert not gate.wants_confirmation(decide("c", repeats(0.5, 0.5, 0.5, seed=9), ONE_SAVE, POLICY))
    assert not gate.wants_confirmation(decide("c", repeats(1.0, 1.0, 1.0, seed=9), ONE_SAVE, POLICY))


# -- the GPU's state: power cap is normal, heat and hardware slowdown are not --------------------------------------

H200_AT_POWER_CAP = {"sm_clock_mhz": 1905, "max_sm_clock_mhz": 1980, "power_w": 687.0,
                     "clock_event_reasons": ["sw_power_cap"], "power_violation_ns": 10**9, "thermal_violation_ns": 0}


def repeat(median: float, state: dict, clock: ClockStats | None, seed: int = 0, after: dict | None = None) -> Repeat:
    data = tuple(samples(median, seed=seed, spread=0.003))
    timing = Timing(data, 1, median * 3, 10, 0.1, True, 0.3)
    later = {**state, "power_violation_ns": state.get("power_violation_ns", 0) + 3 * 10**8}
    return Repeat(timing, ColdStart(0.1, 0.05), index=seed, device_before=tuple(sorted(state.items())),
                  device_after=tuple(sorted((after or later).items())), clock=clock)


CAPPED_CLOCK = ClockStats(median_mhz=1905, min_mhz=1860, max_sm_clock_mhz=1980, reasons=("sw_power_cap",),
                          samples=60)


def test_power_cap_is_recorded_but_is_not_throttling():
    capped = repeat(3.2e-3, H200_AT_POWER_CAP, CAPPED_CLOCK)
    assert capped.throttled == "" and capped.power_capped
    assert CAPPED_CLOCK.throttled() == ""
    hot = ClockStats(1905, 1860, 1980, ("hw_thermal_slowdown", "sw_power_cap"), 60)
    assert "throttled (hw_thermal_slowdown)" in hot.throttled()
    low = ClockStats(1400, 1300, 1980, (), 60)  # below 75 % of the maximum: nvbench's rule
    assert "SM clock 1400 MHz below 75% of its 1980 MHz maximum" in low.throttled()
    braking = {**H200_AT_POWER_CAP, "clock_event_reasons": ["sw_power_cap", "hw_power_brake_slowdown"]}
    assert "hw_power_brake_slowdown" in repeat(3.2e-3, braking, CAPPED_CLOCK).throttled
    heating = {**H200_AT_POWER_CAP, "thermal_violation_ns": 5 * 10**8}
    assert "ms of thermal capping" in repeat(3.2e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, after=heating).throttled


def _judge(current: list[Repeat], base: list[Repeat], policy: GatePolicy = POLICY) -> gate.Verdict:
    """What the fixture does with a GPU cell's repeats."""
    unstable = gate.instability(current, 1905.0, False, policy)
    steady = usable(current)
    return decide("conv-cuda-fp16-b64", [r.timing.samples for r in steady], [[r.timing.samples for r in base]],
                  policy, unstable=unstable)


def test_a_heavy_cell_at_the_power_cap_with_a_20_percent_slowdown_regresses():
    base = [repeat(3.2e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=i) for i in range(3)]
    slower = [repeat(3.84e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=10 + i) for i in range(3)]
    verdict = _judge(slower, base)
    assert verdict.status is Status.REGRESSED, verdict.message()
    fifteen = _judge([repeat(3.68e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=20 + i) for i in range(3)], base)
    assert fifteen.status is Status.REGRESSED
    five = _judge([repeat(3.36e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=30 + i) for i in range(3)], base,
                  GatePolicy(threshold=0.03))
    assert five.status is Status.REGRESSED
    same = _judge([repeat(3.21e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=40 + i) for i in range(3)], base,
                  GatePolicy(threshold=0.03))
    assert same.status is Status.UNCHANGED


def test_thermal_slowdown_in_every_repeat_is_unstable_and_one_slowed_repeat_is_left_out():
    base = [repeat(3.2e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=i) for i in range(3)]
    hot_state = {**H200_AT_POWER_CAP, "clock_event_reasons": ["sw_power_cap", "sw_thermal_slowdown"]}
    hot = [repeat(3.84e-3, hot_state, CAPPED_CLOCK, seed=10 + i) for i in range(3)]
    verdict = _judge(hot, base)
    assert verdict.status is Status.UNSTABLE and "sw_thermal_slowdown" in verdict.detail
    assert verdict.change == pytest.approx(0.2, abs=0.02)
    # one hot, slow repeat among steady ones is left out: the cell is compared on the steady repeats
    mixed = [repeat(3.9e-3, hot_state, CAPPED_CLOCK, seed=20), *(
        repeat(3.21e-3, H200_AT_POWER_CAP, CAPPED_CLOCK, seed=21 + i) for i in range(2))]
    assert len(usable(mixed)) == 2
    assert _judge(mixed, base).status is Status.UNCHANGED


# the GEMM stack (20 x Linear(8192, 8192) fp16, 674 TFLOP/s) on the lent H200: nvidia-smi saw sw_power_cap with SM
# clocks of 1425-1485 MHz; 2 of 3 repeats of a session read 1440 MHz, below nvbench's 75 % of 1980 MHz
GEMM_AT_CAP = ClockStats(median_mhz=1440, min_mhz=1425, max_sm_clock_mhz=1980, reasons=("sw_power_cap",), samples=21)


def test_a_low_clock_explained_by_the_power_cap_is_not_throttling():
    assert GEMM_AT_CAP.throttled() == "" and GEMM_AT_CAP.power_capped
    base = [repeat(16.3e-3, H200_AT_POWER_CAP, GEMM_AT_CAP, seed=i) for i in range(3)]
    slower = [repeat(16.3e-3 * 1.15, H200_AT_POWER_CAP, GEMM_AT_CAP, seed=10 + i) for i in range(3)]
    unstable = gate.instability(slower, 1440.0, False, POLICY)
    assert unstable == ""
    verdict = decide("gemm", [r.timing.samples for r in usable(slower)], [[r.timing.samples for r in base]], POLICY,
                     unstable=unstable)
    assert verdict.status is Status.REGRESSED, verdict.message()
    # the same clock with a heat reason, or without the power cap, is still nvbench's throttling
    assert "below 75%" in ClockStats(1440, 1425, 1980, (), 21).throttled()
    hot = ClockStats(1440, 1425, 1980, ("sw_power_cap", "sw_thermal_slowdown"), 21).throttled()
    assert "sw_thermal_slowdown" in hot and "below 75%" in hot


def test_a_device_bound_cell_at_other_clocks_than_the_baseline_is_unstable():
    slow_clock = ClockStats(1500, 1480, 1980, ("sw_power_cap",), 60)
    current = [repeat(3.9e-3, H200_AT_POWER_CAP, slow_clock, seed=i) for i in range(3)]
    reason = gate.instability(current, 1905.0, False, POLICY)
    assert "SM clock 1500 MHz vs 1905 MHz in the baseline" in reason
    assert gate.instability(current, 1905.0, True, POLICY) == ""  # launch-bound: the clock says nothing
    assert gate.instability(current, 1600.0, False, POLICY) == ""


# -- cold start --------------------------------------------------------------------------------------------------


def test_cold_start_uses_its_looser_threshold_and_an_absolute_floor():
    from pytest_infperf.compare.gate import cached_seconds, cold_start_seconds, decide_cold

    base = [10.0, 11.0, 10.5]
    assert decide_cold("c", 15.0, base, POLICY).status is Status.UNCHANGED  # +43 %: within 100 %
    assert decide_cold("c", 65.0, base, POLICY).status is Status.REGRESSED  # seed 000's 65 s first request
    assert decide_cold("c", [70.0, 65.0, 66.0], base, POLICY).status is Status.REGRESSED
    assert decide_cold("c", [65.0, 12.0], base, POLICY).status is Status.UNCHANGED  # the least of the repeats
    assert decide_cold("c", 4.0, base, POLICY).status is Status.IMPROVED
    assert decide_cold("c", 65.0, [], POLICY).status is Status.NO_BASELINE
    # the H200's A/A: 56 ms -> 114 ms (+103 %) is process noise, not a regression
    small = decide_cold("c", 0.114, [0.056], POLICY)
    assert small.status is Status.UNCHANGED and "cold-start floor" in small.detail
    assert decide_cold("c", 0.114, [0.056], GatePolicy(cold_floor_s=0.0)).status is Status.REGRESSED
    assert cold_start_seconds(load_s=5.0, first_call_s=1.0, export_s=4.0) == 2.0
    assert cached_seconds({"export_s": 4.0, "quantize_s": 2.5, "build_s": 9.0, "note": "x"}) == 6.5


def test_memory_needs_both_percent_and_mib():
    from pytest_infperf.compare.gate import decide_memory

    assert decide_memory("c", [1100.0], [[1000.0], [1010.0]], POLICY).status is Status.UNCHANGED  # +8.9 %
    assert decide_memory("c", [1200.0], [[1000.0], [1010.0]], POLICY).status is Status.REGRESSED  # +18.8 %, +190 MiB
    assert decide_memory("c", [50.0], [[20.0]], POLICY).status is Status.UNCHANGED  # +150 % but only +30 MiB
    assert decide_memory("c", [500.0], [[1000.0]], POLICY).status is Status.IMPROVED
    assert decide_memory("c", [5.0], [], POLICY).status is Status.NO_BASELINE


def test_memory_compares_least_repeat_peaks_with_their_spread_as_allowance():
    from pytest_infperf.compare.gate import decide_memory

    # the least peak of each run: one repeat that grew (interference) is no regression
    assert decide_memory("c", [1000.0, 1400.0, 1005.0], [[1000.0, 1001.0, 1002.0]], POLICY).status is Status.UNCHANGED
    # every repeat grew: a regression
    verdict = decide_memory("c", [1200.0, 1210.0, 1205.0], [[1000.0, 1001.0, 1002.0]], POLICY)
    assert verdict.status is Status.REGRESSED and verdict.current_median == 1200.0 and verdict.repeats == 3
    # repeats that disagree by 300 MiB within a run cannot show a 200 MiB growth
    wide = decide_memory("c", [1200.0, 1210.0, 1500.0], [[1000.0, 1001.0, 1002.0]], POLICY)
    assert wide.status is Status.UNCHANGED and "spread" in wide.detail
    # the largest baseline run's least peak is the reference
    assert decide_memory("c", [1150.0], [[1000.0], [1100.0, 1300.0]], POLICY).status is Status.UNCHANGED


def test_cpu_rss_memory_a_a_from_this_machine_passes_and_real_growth_fails():
    from pytest_infperf.compare.gate import decide_memory

    # onnxruntime CPU RSS growth per repeat (MiB) of CI-style sessions on this project's 2-core VM: a save, then
    # three A/A compares (b4, b8), and a later series whose A/A failed on 88 vs 9 MiB least peaks
    save_b4, save_b8 = [11.0, 79.0, 99.0], [9.0, 9.0, 99.0]
    for b4, b8 in [([18.0, 9.0, 86.0], [0.0, 0.0, 77.0]), ([65.0, 36.0, 86.0], [27.0, 27.0, 77.0]),
                   ([117.0, 5.0, 99.0], [88.0, 101.0, 68.0])]:
        assert decide_memory("b4", b4, [save_b4], POLICY, rss=True).status is Status.UNCHANGED
        assert decide_memory("b8", b8, [save_b8], POLICY, rss=True).status is Status.UNCHANGED
    # the whole A/A move seen, with no spread in either run: within the RSS floor, beyond the device floor
    assert decide_memory("b4", [88.0], [[9.0]], POLICY, rss=True).status is Status.UNCHANGED
    assert decide_memory("b4", [88.0], [[9.0]], POLICY).status is Status.REGRESSED
    # a model that needs 300 MiB more: every repeat grows, caught on RSS too
    grown = decide_memory("b4", [v + 300.0 for v in save_b4], [save_b4], POLICY, rss=True)
    assert grown.status is Status.REGRESSED and "+300 MiB" in grown.detail


def test_memory_change_is_finite_with_a_zero_baseline_peak():
    import json

    from pytest_infperf.compare.gate import decide_memory

    verdict = decide_memory("c", [300.0], [[0.0]], POLICY, rss=True)
    assert verdict.status is Status.REGRESSED and math.isfinite(verdict.change)
    json.dumps(verdict.to_json(), allow_nan=False)


def test_rounds_to_decide() -> None:
    assert gate.rounds_to_decide(0.5, 10, 0.01, 10) is None  # no shift at all: more rounds do not help
    assert gate.rounds_to_decide(0.7, 10, 0.01, 10) is None
    small, large = gate.rounds_to_decide(0.05, 10, 0.01, 10), gate.rounds_to_decide(0.2, 10, 0.01, 10)
    assert small is not None and large is not None and 10 < small < large
    assert gate.stats.min_attainable_p(gate.rounds_to_decide(0.3, 2, 0.01, 3), 3) < 0.01


def test_memory_verdicts_write_mib_keys_and_time_verdicts_seconds():
    memory = Verdict("c", Status.UNCHANGED, current_median=120.0, baseline_median=100.0, unit="MiB").to_json()
    assert (memory["current_mib"], memory["baseline_mib"]) == (120.0, 100.0)
    assert "current_median_s" not in memory and "baseline_median_s" not in memory
    time = Verdict("c", Status.UNCHANGED, current_median=0.002, baseline_median=0.001).to_json()
    assert (time["current_median_s"], time["baseline_median_s"]) == (0.002, 0.001)
    assert "current_mib" not in time
