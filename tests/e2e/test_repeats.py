"""Repeats: each cell measured several times, spread over the session and over worker processes; confirmation repeats
for a suspected slowdown; every repeat's raw samples in the JSON. On the fake backend (fake clock)."""

from __future__ import annotations

import pytest
from helpers import load_json, run_fake, saved_files

from pytest_infperf.measure.worker import Worker, WorkerPool


def _repeats(data: dict) -> dict[str, list[dict]]:
    return {b["param"]: b["extra_info"]["infperf"]["repeats"] for b in data["benchmarks"]}


def test_every_repeat_is_kept_in_the_json_and_interleaved_over_the_session(fake_suite):
    result = run_fake(fake_suite, "--benchmark-save=main")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*repeat pass 1 of 3 over 2 cells*", "*repeat pass 2 of 3 over 2 cells*",
                                 "*time: 2 cells, 6 repeats; load and first call * s, warm-up * s, timed blocks * s*"])
    data = load_json(saved_files(fake_suite.path)[0])
    repeats = _repeats(data)
    for cell, runs in repeats.items():
        assert [r["worker"] for r in runs] == ["0", "1", "2"]  # one worker process per repeat
        assert [r["index"] for r in runs] == [0, 1, 2]
        assert all(len(r["samples"]) >= 5 and r["median_s"] > 0 and not r["confirm"] for r in runs)
        assert all(r["wall_s"] > 0 for r in runs)  # the fake backend's clock is injected: no relation to it
        assert all(r["other_cpu_cores"] is None for r in runs)  # nor to what else this machine runs
        bench = next(b for b in data["benchmarks"] if b["param"] == cell)
        medians = [r["median_s"] for r in runs]
        # pytest-benchmark's stats are the fastest repeat's: the figure the gate compares
        assert bench["stats"]["data"] == runs[medians.index(min(medians))]["samples"]
        assert bench["extra_info"]["infperf"]["time_per_batch_s"] == pytest.approx(min(medians))
    b1, b8 = repeats["fake-cpu-fp32-b1"], repeats["fake-cpu-fp32-b8"]
    # interleaved: pass 1 over both cells, then pass 2, then the tests
    assert b1[0]["started_at"] < b8[0]["started_at"] < b1[1]["started_at"] < b8[1]["started_at"] < b1[2]["started_at"]


def test_consecutive_order_takes_each_cells_repeats_in_turn(fake_suite):
    result = run_fake(fake_suite, "--benchmark-json=out.json", "-o", "infperf_repeat_order=consecutive")
    assert result.ret == 0
    assert "repeat pass" not in result.stdout.str()
    repeats = _repeats(load_json(fake_suite.path / "out.json"))
    b1, b8 = repeats["fake-cpu-fp32-b1"], repeats["fake-cpu-fp32-b8"]
    assert [r["worker"] for r in b1] == ["0", "1", "2"]
    assert b1[2]["started_at"] < b8[0]["started_at"]


def test_repeats_option_and_ini(fake_suite):
    result = run_fake(fake_suite, "--infperf-repeats=2", "--benchmark-json=out.json")
    assert result.ret == 0
    assert all(len(r) == 2 for r in _repeats(load_json(fake_suite.path / "out.json")).values())
    fake_suite.makeini("[pytest]\ninfperf_storage = baselines\ninfperf_repeats = 1\n")
    result = run_fake(fake_suite, "--benchmark-json=out.json")
    assert "repeat pass" not in result.stdout.str()
    assert all(len(r) == 1 for r in _repeats(load_json(fake_suite.path / "out.json")).values())


@pytest.mark.parametrize(("args", "message"), [
    (("--infperf-repeats=0",), "*--infperf-repeats: 0 is out of range; give a value from 1 to 100*"),
    (("--infperf-repeats=three",), "*--infperf-repeats: 'three' is not an integer*"),
    (("-o", "infperf_repeat_order=random"), "*ini infperf_repeat_order: unknown 'random'; choose from interleaved, "
                                            "consecutive*"),
    (("-o", "infperf_confirm_repeats=-1"), "*ini infperf_confirm_repeats: -1 is out of range*"),
    (("-o", "infperf_cold_floor_ms=soon"), "*ini infperf_cold_floor_ms: 'soon' is not a number*"),
    (("-o", "infperf_host_wait=-5"), "*ini infperf_host_wait: -5 is out of range*"),
])
def test_bad_repeat_settings_are_usage_errors(fake_suite, args, message):
    result = run_fake(fake_suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def _save_then_slow_mode(fake_suite, monkeypatch, *args):
    monkeypatch.setenv("INFPERF_FAKE_RUN", "100")
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    # every worker process of this session starts in a slow host mode (1.7x) that lasts through all three repeats
    monkeypatch.setenv("INFPERF_FAKE_SLOW_SLOTS", "0,1,2")
    return run_fake(fake_suite, "--benchmark-compare", "--benchmark-json=out.json", *args)


def test_confirmation_repeats_clear_a_slow_mode_that_lasted_through_the_first_repeats(fake_suite, monkeypatch):
    result = _save_then_slow_mode(fake_suite, monkeypatch)
    assert result.ret == 0, result.stdout.str()
    data = load_json(fake_suite.path / "out.json")
    for bench in data["benchmarks"]:
        repeats = bench["extra_info"]["infperf"]["repeats"]
        assert [r["confirm"] for r in repeats] == [False] * 3 + [True] * 3
        assert [r["worker"] for r in repeats] == ["0", "1", "2", "0", "1", "2"]  # the session's workers in turn
        slow = min(r["median_s"] for r in repeats[:3])
        assert min(r["median_s"] for r in repeats[3:]) < slow / 1.5
        assert bench["extra_info"]["infperf_verdict"]["status"] == "unchanged"
        assert bench["extra_info"]["infperf_verdict"]["repeats"] == 6


def test_without_confirmation_that_slow_mode_is_a_false_alarm(fake_suite, monkeypatch):
    result = _save_then_slow_mode(fake_suite, monkeypatch, "-o", "infperf_confirm_repeats=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*performance regression: fake-cpu-fp32-b1: regressed*fastest of 3 repeats*"])


def test_a_real_slowdown_survives_confirmation(fake_suite, monkeypatch):
    monkeypatch.setenv("INFPERF_FAKE_RUN", "100")
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    monkeypatch.setenv("INFPERF_FAKE_SLOWDOWN", "1.6")
    result = run_fake(fake_suite, "--benchmark-compare", "--benchmark-json=out.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*fake-cpu-fp32-b1: regressed*fastest of 10 repeats vs 3 per baseline run*4 "
                                 "repeat(s) taken after waiting 60 s for a slow host (still slower)*"])
    # the first cell spent the session's waiting budget (60 s in 15 s steps): the second confirms at once
    result.stdout.fnmatch_lines(["*fake-cpu-fp32-b8: regressed*fastest of 6 repeats vs 3 per baseline run*"])
    result.stdout.fnmatch_lines(["*time: 2 cells, 6 repeats + 10 confirmation repeats (60 s waited for a slow host)*"])
    waited = {b["param"]: [r["waited_s"] for r in b["extra_info"]["infperf"]["repeats"]]
              for b in load_json(fake_suite.path / "out.json")["benchmarks"]}
    assert waited == {"fake-cpu-fp32-b1": [0.0] * 6 + [15.0] * 4, "fake-cpu-fp32-b8": [0.0] * 6}


def _save_then_episode(fake_suite, monkeypatch, *args):
    """A slow host episode that lasts through the interleaved passes and the first cell's confirmation repeats, and
    ends once the session has waited 30 s for it (fake time: INFPERF_FAKE_SLEPT_FILE counts the waits)."""
    monkeypatch.setenv("INFPERF_FAKE_RUN", "100")
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    monkeypatch.setenv("INFPERF_FAKE_RUN", "7")
    monkeypatch.setenv("INFPERF_FAKE_EPISODE_S", "30")
    monkeypatch.setenv("INFPERF_FAKE_SLEPT_FILE", str(fake_suite.path / "slept"))
    return run_fake(fake_suite, "--benchmark-compare", "--benchmark-json=out.json", *args)


def test_a_cpu_cell_waits_out_a_slow_host_episode_before_it_is_judged(fake_suite, monkeypatch):
    started: list[str] = []
    start = Worker._start

    def counting_start(self):
        started.append(self.slot)
        start(self)

    monkeypatch.setattr(Worker, "_start", counting_start)
    result = _save_then_episode(fake_suite, monkeypatch)
    # the save started slots 0-2 once; the compare did too, then restarted slots 0 and 1 for the waited repeats
    assert sorted(started) == ["0", "0", "0", "1", "1", "1", "2", "2"]
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*fake-cpu-fp32-b1: still +[67]*% after confirmation; waiting 15 s for a slow host to recover, then one more "
        "repeat in a fresh process (60 s of infperf_host_wait left)*",
        "*fake-cpu-fp32-b1: still +[67]*% after confirmation; waiting 15 s * (45 s of infperf_host_wait left)*",
        "*time: 2 cells, 6 repeats + 5 confirmation repeats (30 s waited for a slow host)*",
    ])
    data = load_json(fake_suite.path / "out.json")
    by_cell = {b["param"]: b for b in data["benchmarks"]}
    b1 = by_cell["fake-cpu-fp32-b1"]
    repeats = b1["extra_info"]["infperf"]["repeats"]
    assert [r["waited_s"] for r in repeats] == [0.0] * 6 + [15.0] * 2
    assert [r["confirm"] for r in repeats] == [False] * 3 + [True] * 5
    assert [r["worker"] for r in repeats] == ["0", "1", "2"] * 2 + ["0", "1"]  # the slots in turn, each restarted
    medians = [r["median_s"] for r in repeats]
    assert min(medians[:7]) > 1.5 * medians[7]  # only the repeat after the episode ran at the cell's own speed
    verdict = b1["extra_info"]["infperf_verdict"]
    assert verdict["status"] == "unchanged"
    assert "2 repeat(s) taken after waiting 30 s for a slow host (cleared)" in verdict["detail"]
    # the second cell's own measurement came after the episode: it needed no wait
    b8 = by_cell["fake-cpu-fp32-b8"]
    assert all(r["waited_s"] == 0.0 for r in b8["extra_info"]["infperf"]["repeats"])
    assert b8["extra_info"]["infperf_verdict"]["status"] == "unchanged"


def test_without_waiting_that_episode_is_a_false_alarm(fake_suite, monkeypatch):
    result = _save_then_episode(fake_suite, monkeypatch, "-o", "infperf_host_wait=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*performance regression: fake-cpu-fp32-b1: regressed*fastest of 6 repeats*"])
    assert "waited for a slow host" not in result.stdout.str()


def test_cold_start_floor_from_ini(fake_suite, monkeypatch):
    monkeypatch.setenv("INFPERF_FAKE_LOAD_S", "0.01")
    monkeypatch.setenv("INFPERF_FAKE_RUN", "100")
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    monkeypatch.setenv("INFPERF_FAKE_LOAD_S", "0.2")  # 20x slower load, but +190 ms: within the 250 ms floor
    assert run_fake(fake_suite, "--benchmark-compare").ret == 0
    result = run_fake(fake_suite, "--benchmark-compare", "-o", "infperf_cold_floor_ms=50")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*cold-start regression: fake-cpu-fp32-b1: regressed*"])


def test_a_crash_in_a_repeat_pass_is_that_cells_outcome(fake_suite, monkeypatch):
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "abort")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "1")
    result = run_fake(fake_suite, "--benchmark-json=out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*fake-cpu-fp32-b1: crashed: the worker process died with SIGABRT "
                                 "(in repeat pass 1 of 3)*"])
    assert len(_repeats(load_json(fake_suite.path / "out.json"))["fake-cpu-fp32-b8"]) == 3


# -- below the plugin: the clock sampler's hook, the ONNX Runtime launch diagnosis ---------------------------------


def test_memory_peak_is_sampled_in_every_repeat_and_the_least_is_compared(fake_suite, monkeypatch):
    from pytest_infperf.compare import baseline

    monkeypatch.setenv("INFPERF_FAKE_ALLOC_MIB", "8")
    assert run_fake(fake_suite, "--benchmark-save=main").ret == 0
    path = saved_files(fake_suite.path)[0]
    data = load_json(path)
    bench = data["benchmarks"][0]
    peaks = [r["memory_peak_mib"] for r in bench["extra_info"]["infperf"]["repeats"]]
    assert len(peaks) == 3 and all(isinstance(p, float) for p in peaks)
    run = baseline.read_run(path, path.parent.name)
    assert run.memory[bench["fullname"]] == tuple(peaks)  # the gate takes the least, with their spread


def test_a_session_with_repeats_starts_every_slot_before_its_first_cell(fake_suite, monkeypatch):
    calls: list[tuple[int, str]] = []
    start = WorkerPool.start

    def recording(self, slots, job, timeout=0.0):
        calls.append((slots, job.label, sorted(w for w in range(slots) if self.worker(w).alive())))
        return start(self, slots, job, timeout)

    monkeypatch.setattr(WorkerPool, "start", recording)
    assert run_fake(fake_suite, "--infperf-repeats=3").ret == 0
    assert calls[0] == (3, "start-up", [])  # before the first cell: no slot was running yet
