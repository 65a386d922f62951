"""Session hygiene (issue 12): interrupted saves, temporary logs, warnings, messages, merged files, dead checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from helpers import FAKE_ARGS, FAKE_TEST, load_json, run_fake, saved_files

# -- 1. an interrupted session publishes no baseline ---------------------------------------------------------------

STOPPING_TEST = '''
import os


def test_stop():
    if os.environ.get("STOP_HERE"):
        raise KeyboardInterrupt  # what Ctrl-C raises in the test that is running
''' + FAKE_TEST.replace("def test_net", "def test_more")  # cells that a stopped session never reaches


def test_an_interrupted_save_publishes_nothing_and_compare_keeps_the_last_full_run(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_suite.makepyfile(test_zz_later=STOPPING_TEST)  # runs after test_perf.py's cells
    assert run_fake(fake_suite, "--benchmark-save=full").ret == 0
    monkeypatch.setenv("STOP_HERE", "1")
    result = fake_suite.runpytest(*FAKE_ARGS, "--benchmark-save=partial", "--benchmark-json=partial.json",
                                  no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert [f.name for f in saved_files(fake_suite.path)] == ["0001_full.json"]
    out = result.stdout.str()
    assert out.count("--benchmark-save=partial was not saved: the session was interrupted") == 1
    assert load_json(fake_suite.path / "partial.json")["infperf"]["interrupted"] is True
    monkeypatch.delenv("STOP_HERE")
    compare = run_fake(fake_suite, "--benchmark-compare")
    compare.assert_outcomes(passed=5)
    assert "no baseline" not in compare.stdout.str()  # every cell compared against the full run


# -- 2. the temporary log folder ------------------------------------------------------------------------------------


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile puts new folders during this test (the runs are in-process)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_the_temporary_log_folder_is_removed_at_session_end(fake_suite: pytest.Pytester, temp_root: Path) -> None:
    assert run_fake(fake_suite).ret == 0  # -p no:cacheprovider: no cache to keep logs in
    assert list(temp_root.glob("infperf-logs-*")) == []


def test_the_temporary_log_folder_is_kept_and_named_when_a_cell_crashed(
    fake_suite: pytest.Pytester, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "abort")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "1")
    result = run_fake(fake_suite)
    result.assert_outcomes(passed=1, failed=1)
    (kept,) = temp_root.glob("infperf-logs-*")
    assert f"worker logs kept in {kept} (a cell crashed or timed out)" in result.stdout.str()
    assert any("about to abort" in log.read_text() for log in kept.glob("*.log"))


# -- 3. pytest-benchmark's "fixture was not used" warning -----------------------------------------------------------

UNUSED = "Benchmark fixture was not used at all in this test"


def test_cells_without_a_measurement_do_not_warn_that_the_fixture_was_unused(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "abort")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", "1")
    result = run_fake(fake_suite)
    result.assert_outcomes(passed=1, failed=1)
    assert UNUSED not in result.stdout.str()


def test_an_error_outcome_does_not_warn_that_the_fixture_was_unused(fake_suite: pytest.Pytester) -> None:
    fake_suite.makepyfile(test_perf=FAKE_TEST.replace('return {"ms": 10.0}', 'raise ValueError("no weights")'))
    result = run_fake(fake_suite, "-o", "infperf_isolate=off", "--infperf-batches=1")
    result.assert_outcomes(failed=1)
    assert "no weights" in result.stdout.str()
    assert UNUSED not in result.stdout.str()


def test_a_fixture_that_is_really_unused_still_warns(fake_suite: pytest.Pytester) -> None:
    fake_suite.makepyfile(test_perf=FAKE_TEST.replace("infperf.benchmark()", "pass"))
    result = run_fake(fake_suite, "--infperf-batches=1")
    result.assert_outcomes(passed=1)
    assert UNUSED in result.stdout.str()


# -- 7. presets= in the marker ---------------------------------------------------------------------------------------


def _preset_test(presets: str) -> str:
    return FAKE_TEST.replace("input_shape=(3, 8, 8)", f"input_shape=(3, 8, 8), presets={presets}")


def test_a_single_preset_string_is_one_preset(fake_suite: pytest.Pytester) -> None:
    fake_suite.makepyfile(test_perf=_preset_test('"cpu"'))
    result = run_fake(fake_suite, "--infperf-preset=cpu")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("presets", ["('cpux',)", "'gpux'", "42", "('cpu', 3)", "()"])
def test_unknown_presets_in_the_marker_are_collection_errors(fake_suite: pytest.Pytester, presets: str) -> None:
    fake_suite.makepyfile(test_perf=_preset_test(presets))
    result = run_fake(fake_suite, "--infperf-preset=cpu")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's exit code for collection errors
    result.stdout.fnmatch_lines([f"*test_perf.py::test_net: @pytest.mark.infperf(presets={presets}*"
                                 "known presets: cpu, gpu, seed002*"])
    assert "Traceback" not in result.stdout.str()


# -- 8. a model module that fails to import --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "error"), [
    ("raise RuntimeError('no GPU driver')\n", "RuntimeError: no GPU driver"),
    ("def net(:\n", "SyntaxError: "),
    ("import no_such_dependency_xyz\n", "ModuleNotFoundError: No module named 'no_such_dependency_xyz'"),
])
def test_a_model_module_that_fails_to_import_is_a_collection_error(
    fake_suite: pytest.Pytester, body: str, error: str
) -> None:
    fake_suite.makepyfile(broken_models=body)
    fake_suite.syspathinsert()
    fake_suite.makepyfile(test_perf=FAKE_TEST.replace("model=net", "model='broken_models:net'"))
    result = run_fake(fake_suite)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*test_perf.py::test_net: model='broken_models:net': importing module "
                                 f"'broken_models' failed: {error}*"])
    assert "Traceback" not in result.stdout.str() and "plugin.py" not in result.stdout.str()


# -- 9. the markdown report is written in one place ------------------------------------------------------------------


@pytest.mark.parametrize("crash_batch", ["1", ""])  # one cell crashed; every cell crashed (no results at all)
def test_the_report_has_the_summary_and_the_outcomes_once(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, crash_batch: str
) -> None:
    monkeypatch.setenv("INFPERF_FAKE_CRASH", "abort")
    monkeypatch.setenv("INFPERF_FAKE_CRASH_BATCH", crash_batch)
    report = fake_suite.path / "report.md"
    report.write_text("# a stale report of an earlier session\n")
    result = run_fake(fake_suite, "--infperf-report=report.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = report.read_text()
    assert text.startswith("# Inference performance: ") and text.count("# Inference performance") == 1
    assert text.count("## Cells without a measurement") == 1 and "stale" not in text
    assert ("| fake |" in text) == bool(crash_batch)  # the results table when a cell measured
    assert result.stdout.str().count(f"markdown report written to {report}") == 1
