"""Cells run in a worker process: a real abort, segfault, hang or memory exhaustion is that cell's outcome, and the
rest of the matrix runs. Also the max-batch search and concurrent users, on the fake backend."""

from __future__ import annotations

import pytest
from helpers import load_json, run_fake, saved_files


@pytest.mark.parametrize(
    ("kind", "signal_name", "logged"),
    [("abort", "SIGABRT", "fake backend: about to abort"), ("segv", "SIGSEGV", "Fatal Python error: Segmentation")],
)
def test_a_crashing_cell_is_recorded_and_the_session_goes_on(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, kind: str, signal_name: str, logged: str
) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", kind)
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "1")
    result = run_fake(fake_suite, "--infperf-batches=1,8,2", "--benchmark-save=run")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert f"fake-cpu-fp32-b1: crashed: the worker process died with {signal_name}" in out
    assert logged in out  # the last lines the worker logged come with the failure
    result.stdout.fnmatch_lines(["*cells without a measurement*", f"*fake-cpu-fp32-b1*crashed*{signal_name}*"])
    data = load_json(saved_files(fake_suite.path)[0])
    assert sorted(b["param"] for b in data["benchmarks"]) == ["fake-cpu-fp32-b2", "fake-cpu-fp32-b8"]
    outcome = data["infperf"]["outcomes"]["test_perf.py::test_net[fake-cpu-fp32-b1]"]
    assert outcome["status"] == "crashed" and outcome["exit_signal"] == signal_name


def test_a_hanging_cell_times_out(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "hang")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "8")
    result = run_fake(fake_suite, "--infperf-batches=8,1", "--infperf-timeout=2")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "fake-cpu-fp32-b8: timed out: stopped after 2 s (--infperf-timeout)" in out
    assert "fake backend: about to hang" in out


@pytest.mark.parametrize("isolate", ["on", "off"])
def test_out_of_memory_is_an_outcome_not_a_crash(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, isolate: str
) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "oom")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "8")
    result = run_fake(fake_suite, "--infperf-batches=8,1", f"--infperf-isolate={isolate}", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*OUT OF MEMORY: fake-cpu-fp32-b8: out of memory (batch 8; process RSS * MiB)*"])


def test_real_memory_exhaustion_in_the_worker(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real allocation beyond the worker's address-space limit: MemoryError, recorded; the next cell runs in a
    fresh worker (the limit died with the old one)."""
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "exhaust")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "8")
    result = run_fake(fake_suite, "--infperf-batches=8,1", "-rs", "--benchmark-save=run")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*OUT OF MEMORY: fake-cpu-fp32-b8: out of memory*MemoryError*"])
    data = load_json(saved_files(fake_suite.path)[0])
    assert [b["param"] for b in data["benchmarks"]] == ["fake-cpu-fp32-b1"]
    assert data["infperf"]["outcomes"]["test_perf.py::test_net[fake-cpu-fp32-b8]"]["status"] == "oom"


def test_out_of_memory_where_the_baseline_ran_is_a_memory_regression(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_fake(fake_suite, "--benchmark-save=base").assert_outcomes(passed=2)
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "oom")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "8")
    result = run_fake(fake_suite, "--benchmark-compare")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*memory regression: fake-cpu-fp32-b8: out of memory*(the baseline ran this cell)*"])


def test_model_factory_that_cannot_be_pickled_gets_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf='''
import pytest

def make():
    def net():
        return {"ms": 1.0}
    return net

@pytest.mark.infperf(model=make(), input_shape=(3, 8, 8), name="net")
def test_net(infperf):
    infperf.benchmark()
''')
    result = run_fake(pytester, "--infperf-batches=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*could not be sent to the worker process*module-level*infperf_isolate=off*"])
    assert run_fake(pytester, "--infperf-batches=1", "--infperf-isolate=off").ret == 0


def test_long_phases_show_progress(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_FAKE_LOAD_S", "3.6")
    result = run_fake(fake_suite, "--infperf-batches=1")
    result.stdout.fnmatch_lines(["*[[]infperf[]] fake-cpu-fp32-b1: loading the fake model (* s so far)*"])
