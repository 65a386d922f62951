"""The measuring loop, driven by a fake clock: no hardware, fully deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pytest_infperf.measure.timing import SyncedClockTimer, TimingPolicy, measure


@dataclass
class ScriptedWork:
    """Each call advances the clock by the next scripted cost (the last one repeats)."""

    costs: list[float]
    now: float = 0.0
    calls: int = 0
    syncs: list[int] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.costs[min(self.calls, len(self.costs) - 1)]
        self.calls += 1

    def sync(self) -> None:
        self.syncs.append(self.calls)


def test_first_call_is_cold_start_and_never_a_sample():
    work = ScriptedWork([2.0, 0.010])
    timing = measure(work.call, SyncedClockTimer(work.clock, work.sync), TimingPolicy(max_time=0.2))
    assert timing.first_call == pytest.approx(2.0)
    assert max(timing.samples) == pytest.approx(0.010)


def test_warmup_runs_until_times_settle():
    costs = [1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02] + [0.010]
    work = ScriptedWork(costs)
    policy = TimingPolicy(warmup_min_calls=3, warmup_min_time=0.0, settle_window=3, settle_tolerance=0.05)
    timing = measure(work.call, SyncedClockTimer(work.clock, work.sync), policy)
    assert timing.warmup_settled
    # calls 2..7 are still falling; the window of three equal 10 ms calls closes at warm-up call 9
    assert timing.warmup_calls == 9
    assert all(s == pytest.approx(0.010) for s in timing.samples)


def test_warmup_gives_up_at_its_cap_and_says_so():
    work = ScriptedWork([0.01 * (1 + (i % 2)) for i in range(1000)])  # alternates 10/20 ms: never settles
    policy = TimingPolicy(warmup_max_calls=20, warmup_min_time=0.0)
    timing = measure(work.call, SyncedClockTimer(work.clock, work.sync), policy)
    assert not timing.warmup_settled
    assert timing.warmup_calls == 20


def test_fast_calls_are_amortised_in_blocks_with_one_sync_per_block_end():
    work = ScriptedWork([0.0001])  # 100 us per call
    policy = TimingPolicy(min_block_time=0.005, min_rounds=5, max_time=0.05, warmup_min_time=0.0)
    timing = measure(work.call, SyncedClockTimer(work.clock, work.sync), policy)
    assert timing.block_size == 50
    assert timing.rounds == 10  # 10 blocks of 5 ms reach max_time
    assert all(s == pytest.approx(0.0001) for s in timing.samples)
    calls_before_blocks = 1 + timing.warmup_calls
    block_syncs = [s for s in work.syncs if s > calls_before_blocks]
    # a sync before and after every block, none inside it
    assert len(block_syncs) == 2 * timing.rounds - 1


def test_min_rounds_wins_over_max_time():
    work = ScriptedWork([0.5])
    timing = measure(work.call, SyncedClockTimer(work.clock, work.sync), TimingPolicy(min_rounds=7, max_time=0.1))
    assert timing.rounds == 7
    assert timing.measure_time == pytest.approx(3.5)


def test_max_rounds_caps_the_loop():
    work = ScriptedWork([0.001])
    policy = TimingPolicy(min_block_time=0.0, max_rounds=25, max_time=100.0)
    assert measure(work.call, SyncedClockTimer(work.clock, work.sync), policy).rounds == 25


class StillClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_between_blocks_runs_once_after_each_timed_block_outside_it():
    clock = StillClock()
    seen: list[float] = []

    def call() -> None:
        clock.now += 0.01

    def between() -> None:
        seen.append(clock.now)
        clock.now += 5.0  # an expensive read between blocks must not show in any sample

    timing = measure(call, SyncedClockTimer(clock=clock), TimingPolicy(min_rounds=4, max_time=0.0),
                     between_blocks=between)
    assert len(seen) == timing.rounds == 4
    assert all(s == pytest.approx(0.01) for s in timing.samples)
