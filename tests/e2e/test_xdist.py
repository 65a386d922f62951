"""pytest-xdist end to end: CPU cells refused unless allowed, workers measure and the controller merges their
results into one JSON, one table and one baseline (the xdist_path fixture is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_json, run_fake, saved_files


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


def test_xdist_writes_the_merged_json_to_an_absolute_path_elsewhere(
    fake_suite: pytest.Pytester, xdist_path: None, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "out.json"
    target.parent.mkdir()
    result = run_fake(fake_suite, "-p", "xdist", "-n", "2", "-o", "infperf_xdist_cpu=on", f"--benchmark-json={target}")
    result.assert_outcomes(passed=2)
    assert sorted(b["param"] for b in load_json(target)["benchmarks"]) == ["fake-cpu-fp32-b1", "fake-cpu-fp32-b8"]
    assert not (fake_suite.path / "out.json").exists()
    assert f"merged results saved in {target}" in result.stdout.str()
