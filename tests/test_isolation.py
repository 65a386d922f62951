"""Cells run in a worker process: a real abort, segfault, hang or memory exhaustion is that cell's outcome, and the
rest of the matrix runs. Also the max-batch search and concurrent users, on the fake backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_json, run_fake, saved_files

from pytest_infperf.measure import maxbatch
from pytest_infperf.measure.results import Outcome
from pytest_infperf.measure.runner import Probe


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


def test_max_batch_search_finds_the_limit(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_FAKE_OOM_ABOVE", "100")
    result = run_fake(fake_suite, "--infperf-max-batch=4096", "--infperf-report=report.md")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*infperf largest batch that runs*",
        "net*fake-cpu-fp32-bmax*100*101*out of memory*",
    ])
    assert "## Largest batch that runs" in (fake_suite.path / "report.md").read_text()


def test_concurrent_users_scale_and_are_reported(fake_suite: pytest.Pytester) -> None:
    result = run_fake(fake_suite, "--infperf-batches=1", "--infperf-concurrency=1,4", "--benchmark-json=out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*infperf concurrent users*", "net*fake*cpu*fp32*1*1*", "net*fake*cpu*fp32*1*4*"])
    data = load_json(fake_suite.path / "out.json")
    cells = {b["param"]: b["extra_info"]["infperf"] for b in data["benchmarks"]}
    assert set(cells) == {"fake-cpu-fp32-b1", "fake-cpu-fp32-b1-c4"}
    four = cells["fake-cpu-fp32-b1-c4"]["concurrency"]
    assert four["users"] == 4 and len(four["per_user_requests"]) == 4 and min(four["per_user_requests"]) >= 10
    assert four["p50_s"] <= four["p99_s"]


# -- the search itself, on scripted tries --------------------------------------------------------------------------


def _tries(limit_ok: int, status: str = "oom"):
    calls: list[int] = []

    def try_batch(batch: int) -> Probe | Outcome:
        calls.append(batch)
        if batch <= limit_ok:
            return Probe(batch=batch, seconds_per_batch=batch * 1e-3, peak_mib=batch * 10.0)
        return Outcome(status, "cell", "no", batch=batch)

    return try_batch, calls


@pytest.mark.parametrize("limit_ok", [1, 2, 3, 37, 64, 100, 1000])
def test_search_is_exact_below_64_and_within_1_64th_above(limit_ok: int) -> None:
    try_batch, calls = _tries(limit_ok)
    found = maxbatch.search("cell", "m", 1 << 20, try_batch)
    assert found.smallest_failing is not None and found.largest_ok is not None
    assert found.largest_ok <= limit_ok < found.smallest_failing
    assert found.smallest_failing - found.largest_ok <= max(1, found.largest_ok // 64)
    if limit_ok < 64:
        assert found.largest_ok == limit_ok
    assert found.limited_by == "out of memory" and found.failure.batch == found.smallest_failing
    assert found.peak_mib == found.largest_ok * 10.0
    assert len(calls) == len(set(calls))  # no batch tried twice


def test_search_stops_at_its_limit_and_reports_other_failures() -> None:
    try_batch, calls = _tries(10**9)
    found = maxbatch.search("cell", "m", 48, try_batch)
    assert (found.largest_ok, found.smallest_failing, found.limited_by) == (48, None, "search limit")
    assert calls == [1, 2, 4, 8, 16, 32, 48]
    try_batch, _ = _tries(0, status="crashed")
    found = maxbatch.search("cell", "m", 48, try_batch)
    assert (found.largest_ok, found.smallest_failing, found.limited_by) == (None, 1, "crashed")


# -- pytest-xdist: one worker per GPU, results merged ----------------------------------------------------------------


def test_xdist_pins_one_worker_per_gpu() -> None:
    from pytest_infperf.distributed import pin

    assert [pin(i, 2, 2, None, ("cuda",), False) for i in range(2)] == ["0", "1"]
    assert [pin(i, 2, 4, "3,1", ("cuda",), False) for i in range(2)] == ["3", "1"]  # the user's own restriction
    with pytest.raises(pytest.UsageError, match="one worker per GPU.*2 GPU.*-n 2"):
        pin(2, 3, 2, None, ("cuda",), False)
    with pytest.raises(pytest.UsageError, match="CPU cells measured in parallel"):
        pin(0, 2, 2, None, ("cpu", "cuda"), False)
    assert pin(0, 2, 0, None, ("cpu",), True) is None


@pytest.fixture
def xdist_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist workers are fresh interpreters whose sys.path xdist restores from the one it saw at import time, before
    tests/ was added: put the fake backend's folder into that copy."""
    pytest.importorskip("xdist")
    import xdist.workermanage

    here = str(Path(__file__).parent)
    monkeypatch.setattr(xdist.workermanage, "_sys_path", [here, *xdist.workermanage._sys_path])


def test_xdist_cpu_cells_are_refused(fake_suite: pytest.Pytester, xdist_path: None) -> None:
    result = run_fake(fake_suite, "-n", "2", "-p", "xdist")
    assert result.ret != 0
    assert "CPU cells measured in parallel share cores" in result.stdout.str() + result.stderr.str()


def test_xdist_workers_measure_and_merge_into_one_baseline(fake_suite: pytest.Pytester, xdist_path: None) -> None:
    """Two xdist workers (CPU cells allowed explicitly here: there is no GPU in CI) measure, and the controller
    writes one merged JSON, one table and one baseline file that a later compare reads."""
    args = ("-p", "xdist", "-n", "2", "-o", "infperf_xdist_cpu=on", "--infperf-batches=1,2,4,8")
    result = run_fake(fake_suite, *args, "--benchmark-save=par", "--benchmark-json=merged.json")
    result.assert_outcomes(passed=4)
    out = result.stdout.str()
    assert "pytest-xdist: 2 workers (gw0, gw1); results merged" in out
    assert "Benchmarks are automatically disabled" not in out
    files = saved_files(fake_suite.path)
    assert len(files) == 1
    data = load_json(files[0])
    assert sorted(b["param"] for b in data["benchmarks"]) == [f"fake-cpu-fp32-b{n}" for n in (1, 2, 4, 8)]
    for bench in data["benchmarks"]:  # every repeat's raw samples kept; under xdist they are taken in turn
        repeats = bench["extra_info"]["infperf"]["repeats"]
        assert len(repeats) == 3 and all(len(r["samples"]) >= 5 for r in repeats)
        assert [r["worker"] for r in repeats] == ["0", "1", "2"]
        assert bench["stats"]["data"] in [r["samples"] for r in repeats]
    assert data["infperf"]["xdist_workers"] == 2
    assert load_json(fake_suite.path / "merged.json")["benchmarks"] == data["benchmarks"]
    for line in ("fake-cpu-fp32-b1", "fake-cpu-fp32-b8"):
        assert line.split("-b")[0] in out
    compare = run_fake(fake_suite, *args, "--benchmark-compare")
    compare.assert_outcomes(passed=4)
    assert "unchanged" in compare.stdout.str()
