"""Host-speed normalisation of launch-bound GPU cells (measure.hostspeed), with figures recorded on the lent
H200: ResNet-18 eager fp16 b16 ran 1.8-2.0 ms per call in fast processes (probe 7.0-7.5 us per launch) and 2.8 ms in
slow ones (probe ~10 us); the model/probe ratio stayed within 252-289."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_infperf.compare import gate
from pytest_infperf.compare.gate import GatePolicy, Status
from pytest_infperf.compare.judge import host_judged
from pytest_infperf.measure import hostspeed

POLICY = GatePolicy()


def run(median: float, seed: int, n: int = 30) -> tuple[float, ...]:
    rng = np.random.default_rng(seed)
    return tuple(float(x) for x in median * (1.0 + np.abs(rng.normal(0.0, 0.01, n))))


FAST, SLOW = (1.85e-3, 7.2e-6), (2.8e-3, 10.1e-6)  # (time per call, probe per launch) of the two host modes


def judge(current_modes, baseline_modes, slowdown: float = 1.0, normalise: bool = True) -> gate.Verdict:
    current = [run(m * slowdown, 10 + i) for i, (m, _) in enumerate(current_modes)]
    base = [[run(m, i) for i, (m, _) in enumerate(baseline_modes)]]
    probes = [(p,) * len(r) for (_, p), r in zip(current_modes, current, strict=True)]
    base_probes = [tuple((p,) * len(r) for (_, p), r in zip(baseline_modes, base[0], strict=True))]
    floor = POLICY.floor("cuda", True, 3)
    if normalise:
        normal = hostspeed.normalise_runs(current, probes, base, base_probes)
        assert normal is not None
        current, base, note = normal
        assert "host-normalised" in note
    return gate.decide("torch-cuda-fp16-b16", current, base, POLICY, floor=floor)


def test_a_session_of_slow_host_processes_is_not_a_regression():
    # the A/A that failed on the H200: every repeat of the session in slow processes, the baseline's in fast ones
    assert judge([SLOW, SLOW, SLOW], [FAST, FAST, SLOW], normalise=False).status is Status.REGRESSED
    assert judge([SLOW, SLOW, SLOW], [FAST, FAST, SLOW]).status is Status.UNCHANGED


def test_a_model_that_launches_a_quarter_more_work_regresses_in_either_host_mode():
    assert judge([SLOW, SLOW, SLOW], [FAST, FAST, FAST], slowdown=1.25).status is Status.REGRESSED
    assert judge([FAST, FAST, FAST], [FAST, SLOW, SLOW], slowdown=1.25).status is Status.REGRESSED


def test_each_block_is_divided_by_its_own_probe():
    # the host mode changed within a repeat: two slow blocks (and their slow probes) among fast ones
    samples = [(1.85e-3, 2.8e-3, 2.8e-3, 1.85e-3)]
    probes = [(7.2e-6, 10.1e-6, 10.1e-6, 7.2e-6)]
    normal = hostspeed.normalise_runs(samples, probes, [samples], [probes])
    assert normal is not None
    ratios = [x / 7.2e-6 * 1e-6 for x in normal[0][0]]  # in units of the median probe
    assert max(ratios) / min(ratios) < 1.1


def test_no_normalisation_unless_every_block_on_both_sides_has_a_probe():
    cur, base = [run(1e-3, 1, n=3)] * 2, [[run(1e-3, 2, n=3)] * 2]
    full = (7e-6,) * 3
    assert hostspeed.normalise_runs(cur, [full, ()], base, [(full, full)]) is None
    assert hostspeed.normalise_runs(cur, [full, full], base, [None]) is None
    assert hostspeed.normalise_runs(cur, [full, full], base, [(full,)]) is None  # probes for one repeat of two
    assert hostspeed.normalise_runs(cur, [full, (7e-6,) * 2], base, [(full, full)]) is None  # a block without one
    same = hostspeed.normalise_runs(cur, [full, full], base, [(full, full)])
    assert same is not None and same[0] == [tuple(r) for r in cur]  # equal probes: nothing changes


def test_probe_records_one_figure_per_block_or_none():
    probe = hostspeed.LaunchProbe.__new__(hostspeed.LaunchProbe)
    probe.per_block, probe._x = [7e-6, 8e-6], None
    probe()  # no CUDA: reads nothing
    assert probe.aligned(2) == (7e-6, 8e-6) and probe.aligned(3) == ()


def test_the_probe_is_none_without_cuda():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/test_gpu.py checks the probe there")
    probe = hostspeed.LaunchProbe()
    probe()
    assert probe.per_block == [] and probe.aligned(0) == ()


def gate_verdict(current_modes, baseline_modes, policy: GatePolicy = POLICY) -> gate.Verdict:
    """What the gate decides (compare.apply): the raw verdict and the host-normalised one through host_judged."""
    current = [run(m, 20 + i) for i, (m, _) in enumerate(current_modes)]
    base = [[run(m, i) for i, (m, _) in enumerate(baseline_modes)]]
    probes = [(p,) * len(r) for (_, p), r in zip(current_modes, current, strict=True)]
    base_probes = [tuple((p,) * len(r) for (_, p), r in zip(baseline_modes, base[0], strict=True))]
    floor = policy.floor("cuda", True, 3)
    raw = gate.decide("torch-cuda-bf16-b64", current, base, policy, floor=floor)
    normal = hostspeed.normalise_runs(current, probes, base, base_probes)
    assert normal is not None
    cur_n, base_n, note = normal
    return host_judged(raw, gate.decide("torch-cuda-bf16-b64", cur_n, base_n, policy, floor=floor), note)


RECORDED = json.loads((Path(__file__).parents[1] / "data" / "h200_host_modes.json").read_text())


def recorded(current: str, baseline: str, policy: GatePolicy) -> tuple[gate.Verdict, gate.Verdict, gate.Verdict]:
    """Raw, host-normalised and gate verdicts on repeats recorded on the H200 (tests/data/h200_host_modes.json)."""
    cur = [tuple(r["samples"]) for r in RECORDED[current]]
    base = [[tuple(r["samples"]) for r in RECORDED[baseline]]]
    floor = policy.floor("cuda", True, 3)
    raw = gate.decide(current, cur, base, policy, floor=floor)
    normal = hostspeed.normalise_runs(cur, [r["host_probes"] for r in RECORDED[current]], base,
                                      [[r["host_probes"] for r in RECORDED[baseline]]])
    assert normal is not None
    normalised = gate.decide(current, normal[0], normal[1], policy, floor=floor)
    return raw, normalised, host_judged(raw, normalised, normal[2])


def test_a_host_normalised_noisy_slowdown_is_cleared_by_raw_samples_without_one():
    raw = gate.Verdict("c", Status.UNCHANGED, 1.0, 1.0, change=0.01, limit=0.1)
    normalised = gate.Verdict("c", Status.NOISY, 1.09, 1.0, change=0.09, limit=0.14)
    verdict = host_judged(raw, normalised, "host-normalised: launch probe 9 us now vs 10 us in the baseline")
    assert verdict.status is Status.UNCHANGED and "would be noisy" in verdict.detail
    slower = gate.Verdict("c", Status.NOISY, 1.08, 1.0, change=0.08, limit=0.14)
    assert host_judged(slower, normalised, "note").status is Status.NOISY


def test_a_cell_device_bound_in_the_fast_host_mode_is_judged_on_its_raw_samples():
    # torch bf16 b64, A/A 4 on the H200: 1.96-1.98 ms in the fast host mode whatever the probe read, 2.3-3.2 ms
    # (launch-bound) in the slow one; dividing the fast blocks by their probe over-corrects them
    import dataclasses

    # with the launch-bound floor of the session that recorded it (σ ≥ 2 %) the host-normalised verdict regressed
    raw, normalised, verdict = recorded("bf16_b64_aa4", "bf16_b64_save", dataclasses.replace(POLICY, repeat_floor=0.02))
    assert normalised.status is Status.REGRESSED and raw.status is Status.UNCHANGED
    assert verdict.status is Status.UNCHANGED, verdict.message()
    assert "judged on the raw samples" in verdict.detail and "host-normalised" in verdict.detail
    # with today's (σ ≥ 4 %) it is a noisy slowdown, which the raw samples clear too
    raw, normalised, verdict = recorded("bf16_b64_aa4", "bf16_b64_save", POLICY)
    assert normalised.status is Status.NOISY and verdict.status is Status.UNCHANGED, verdict.message()
    assert "would be noisy" in verdict.detail


def test_a_launch_chain_a_quarter_longer_regresses_through_the_gate():
    # the launch chain's 1.25x session on the H200: +26.9 % host-normalised, +21.4 % raw (noisy): regressed
    raw, normalised, verdict = recorded("chain_slow125", "chain_save", POLICY)
    assert raw.status is not Status.REGRESSED and normalised.status is Status.REGRESSED
    assert verdict.status is Status.REGRESSED, verdict.message()
    assert "judged on the raw samples" not in verdict.detail


def test_through_the_gate_slow_host_processes_alone_are_cleared():
    assert gate_verdict([SLOW, SLOW, SLOW], [FAST, FAST, SLOW]).status is Status.UNCHANGED
    assert gate_verdict([(m * 1.25, p) for m, p in (SLOW, SLOW, FAST)], [FAST, FAST, SLOW]).status is Status.REGRESSED


# CPU cells: the memory probe between timed blocks (recorded), and the rule that would clear a noisy slowdown it
# explains (rejudge.py --cpu-probe)


def _ticking(step: float):
    ticks = [0.0]

    def read() -> float:
        ticks.append(ticks[-1] + step)
        return ticks[-1]
    return read


def test_the_memory_probe_reads_after_the_timed_blocks_and_gives_every_block_the_pooled_reading():
    probe = hostspeed.MemoryProbe(clock=_ticking(0.05), big_mib=1, small_mib=0.25)
    probe.read_after(6, readings=2)
    # each reading: start, middle, end 0.05 s apart on the injected clock, so sqrt(0.05 * 0.05)
    assert probe.readings == [pytest.approx(0.05)] * 2
    assert probe.aligned(6) == (pytest.approx(0.05),) * 6 and probe.aligned(7) == ()
    probe.readings[:] = [0.05, 0.2]
    assert probe.aligned(6) == (pytest.approx(0.08),) * 6  # pooled: the harmonic mean, 2 / (20 + 5)
    probe.close()
    still = hostspeed.MemoryProbe(clock=lambda: 5.0, big_mib=1, small_mib=0.25)  # a clock only a fake backend moves
    still.read_after(1)
    assert still.readings == [] and still.aligned(1) == ()


def test_a_memory_probe_that_cannot_allocate_reads_nothing_and_never_fails_the_cell(monkeypatch):
    probe = hostspeed.MemoryProbe(clock=_ticking(0.05), big_mib=1, small_mib=0.25)

    def refuse():
        raise MemoryError
    monkeypatch.setattr(probe, "_allocate", refuse)
    probe.read_after(5)
    assert probe.readings == [] and probe.aligned(5) == ()


def test_the_memory_probe_copies_more_than_the_last_level_cache():
    probe = hostspeed.MemoryProbe()
    assert probe._big_mib >= max(hostspeed.MEMORY_PROBE_MIN_MIB, min(2 * hostspeed.last_level_cache_mib(),
                                                                      hostspeed.MEMORY_PROBE_MAX_MIB))


def _cpu_judged(vm: float, model: float, probe_vm: float | None = None, cpu_probe: bool = False) -> gate.Verdict:
    """A CPU cell saved with 3 repeats, judged now with the host ``vm`` times slower (cell and probe alike, or the
    probe ``probe_vm`` times) and the model ``model`` times slower (the cell only): by the gate
    (`compare.judge.apply`), or with ``cpu_probe`` as `rejudge.py --cpu-probe` judges it (`judge.host_cleared`)."""
    import dataclasses

    from helpers import cell

    from pytest_infperf.compare import judge
    from pytest_infperf.compare.baseline import BaselineRun, BaselineSet
    from pytest_infperf.measure.results import ColdStart, Repeat
    from pytest_infperf.measure.timing import Timing

    base = cell(per_image_ms=10.0)
    probe_s = 2.5e-3

    def repeats(seed: int, factor: float, probe_factor: float) -> tuple[Repeat, ...]:
        out = []
        for i in range(3):
            samples = tuple(x * factor for x in run(10e-3, seed * 10 + i))
            probes = tuple(probe_s * probe_factor * float(np.exp(g))
                           for g in np.random.default_rng(seed * 10 + i + 99).normal(0, 0.01, len(samples)))
            out.append(Repeat(Timing(samples, 1, 0.01, 3, 0.1, True, 0.3), ColdStart(0.1, 0.01), index=i,
                              host_probes=probes, host_probe_kind=hostspeed.MemoryProbe.KIND))
        return tuple(out)

    saved = repeats(1, 1.0, 1.0)
    baseline = BaselineSet((BaselineRun(
        Path("0001_x.json"), 1, "x", "fp", "", cells={base.nodeid: tuple(r.timing.samples for r in saved)},
        cold={base.nodeid: 0.11}, host_probe={base.nodeid: tuple(r.host_probes for r in saved)}),))
    now = dataclasses.replace(base, repeats=repeats(2, vm * model, vm if probe_vm is None else probe_vm))
    if not cpu_probe:
        return judge.apply(now, baseline, POLICY).time
    current = [r.timing.samples for r in now.repeats]
    runs = baseline.samples(base.nodeid)
    floor = POLICY.floor("cpu", False, 3)
    raw = gate.decide(base.case.id, current, runs, POLICY, floor=floor)
    normal = judge.host_normalised("cpu", False, current, [r.host_probes for r in now.repeats], runs,
                                   baseline.host_probes(base.nodeid), cpu=True)
    assert normal is not None
    normalised = gate.decide(base.case.id, normal[0], normal[1], POLICY, floor=floor)
    return judge.host_rule("cpu")(raw, normalised, normal[2])


def test_the_gate_records_the_memory_probe_but_judges_cpu_cells_on_their_raw_samples():
    verdict = _cpu_judged(vm=1.2, model=1.0)  # the CI VM ran whole A/A sessions 6-27 % slower than the save
    assert verdict.status is Status.NOISY and "memory probe" not in verdict.message(), verdict.message()
    assert _cpu_judged(vm=1.0, model=1.6).status is Status.REGRESSED


def test_judged_with_the_memory_probe_a_noisy_slowdown_the_host_explains_is_unchanged_and_nothing_else_moves():
    """`rejudge.py --cpu-probe` (compare.judge.host_cleared): CI's evidence series, not the gate."""
    verdict = _cpu_judged(vm=1.2, model=1.0, cpu_probe=True)
    assert verdict.status is Status.UNCHANGED, verdict.message()
    assert verdict.change == pytest.approx(0.2, abs=0.03)  # the raw figure is kept, the reason given
    assert "the host, not the cell, ran slower" in verdict.detail and "memory probe" in verdict.detail
    # the probe read the host as fast as at the save: the same slowdown stays noisy
    assert _cpu_judged(vm=1.2, model=1.0, probe_vm=1.0, cpu_probe=True).status is Status.NOISY
    # a slower model on a steady host: the probe reads nothing of it
    assert _cpu_judged(vm=1.0, model=1.2, cpu_probe=True).status is Status.NOISY
    assert _cpu_judged(vm=1.0, model=1.6, cpu_probe=True).status is Status.REGRESSED
    # a raw regression stays one whatever the probe read
    regressed = _cpu_judged(vm=1.6, model=1.0, cpu_probe=True)
    assert regressed.status is Status.REGRESSED and "divided by the host's memory speed" in regressed.detail
    # a slowdown of the model in a slow session: beyond the threshold once divided, so not cleared
    assert _cpu_judged(vm=1.1, model=1.2, cpu_probe=True).status is Status.NOISY


def test_divided_by_the_memory_probe_repeat_by_repeat_with_each_repeats_pooled_reading():
    """compare.judge.host_normalised on a CPU cell (what `rejudge.py --cpu-probe --host normalised` shows)."""
    from pytest_infperf.compare.judge import host_normalised, host_probe

    assert host_probe("cpu", False) == "" and host_probe("cpu", False, cpu=True) == "memory probe"
    assert host_normalised("cpu", False, [(1e-3,)], [(4e-3,)], [[(1e-3,)]], [((4e-3,),)]) is None  # not by default
    base = [[run(10e-3, i) for i in range(3)]]
    base_probes = [tuple((2.5e-3,) * len(r) for r in base[0])]
    for vm, model, expected in ((1.2, 1.0, Status.UNCHANGED), (1.2, 1.6, Status.REGRESSED)):
        current = [tuple(x * vm * model for x in run(10e-3, 10 + i)) for i in range(3)]
        # one reading in ten was 20x slower (the host paused the thread in it): pooled per repeat (harmonic mean),
        # it costs the whole repeat 10.5 % (1 / (0.9 + 0.1 / 20)), not the blocks it follows 20x
        probes = [tuple(2.5e-3 * vm * (20.0 if j % 10 == 0 else 1.0) for j in range(len(r))) for r in current]
        normal = host_normalised("cpu", False, current, probes, base, base_probes, cpu=True)
        assert normal is not None and "memory probe" in normal[2]
        assert max(normal[0][0]) / max(current[0]) == pytest.approx(0.905 / 1.2)
        verdict = gate.decide("torch-cpu-fp32-b1", normal[0], normal[1], POLICY, floor=POLICY.floor("cpu", False, 3))
        assert verdict.status is expected, verdict.message()
    assert hostspeed.per_repeat([(1e-4, 1e-4, 4e-4), None, ()]) == [(pytest.approx(4e-4 / 3),) * 3, None, ()]


def test_cpu_probes_of_earlier_kinds_are_never_divided_by_this_one():
    from pytest_infperf.compare.schema import stored_probes

    repeats = [{"samples": [1e-3, 1e-3], "host_probes": [2.5e-3, 2.5e-3], "host_probe_kind": "cpu-memory"}]
    assert stored_probes("cpu", repeats) == ((2.5e-3, 2.5e-3),)
    window = [dict(repeats[0], host_probe_kind="cpu-window")]  # the in-core arithmetic probe of 2026-11-29
    assert stored_probes("cpu", window) is None
    old = [{k: v for k, v in repeats[0].items() if k != "host_probe_kind"}]
    assert stored_probes("cpu", old) is None
    assert stored_probes("cuda", old) == ((2.5e-3, 2.5e-3),)  # the launch probe has not changed


def test_other_cpu_is_the_machines_busy_time_less_this_processs_per_second_and_nothing_when_disabled(monkeypatch):
    busy, own, wall = iter([100.0, 101.0]), iter([10.0, 10.2]), iter([0.0, 2.0])
    monkeypatch.setattr(hostspeed, "machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(hostspeed, "own_cpu_s", lambda: next(own))
    other = hostspeed.OtherCpu(wall=lambda: next(wall))
    assert other.stop() == pytest.approx(0.4) and other.cores == pytest.approx(0.4)  # (1.0 - 0.2) s over 2 s
    monkeypatch.setattr(hostspeed, "machine_busy_s", lambda: pytest.fail("a disabled reading must not read"))
    assert hostspeed.OtherCpu(enabled=False).stop() is None
    monkeypatch.setattr(hostspeed, "machine_busy_s", lambda: None)  # no /proc/stat
    assert hostspeed.OtherCpu().stop() is None


def test_other_cpu_reads_this_machine():
    """The real reading: this process is idle while it sleeps, another one on the machine busy a known time."""
    import subprocess
    import sys

    if hostspeed.machine_busy_s() is None:
        pytest.skip("no /proc/stat on this system")
    other = hostspeed.OtherCpu()
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    cores = other.stop()
    assert cores is not None and cores >= 0.3  # >= 0.6 s of CPU of another process in ~0.7-1 s of wall
