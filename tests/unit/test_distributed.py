"""pytest-xdist support without xdist: which GPU each worker is pinned to."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import load_json

from pytest_infperf.session import InfperfSession


def test_xdist_pins_one_worker_per_gpu() -> None:
    from pytest_infperf.distributed import pin

    assert [pin(i, 2, 2, None, ("cuda",), False) for i in range(2)] == ["0", "1"]
    assert [pin(i, 2, 4, "3,1", ("cuda",), False) for i in range(2)] == ["3", "1"]  # the user's own restriction
    with pytest.raises(pytest.UsageError, match="one worker per GPU.*2 GPU.*-n 2"):
        pin(2, 3, 2, None, ("cuda",), False)
    with pytest.raises(pytest.UsageError, match="CPU cells measured in parallel"):
        pin(0, 2, 2, None, ("cpu", "cuda"), False)
    assert pin(0, 2, 0, None, ("cpu",), True) is None


@pytest.mark.parametrize("kind", ["path", "str"])
def test_merged_json_option_given_as_a_path_is_written_to_that_path(tmp_path: Path, monkeypatch, kind: str) -> None:
    """pytest-benchmark's option may be a path-like object, whose ``.name`` is only the basename."""
    from types import SimpleNamespace

    from pytest_infperf import distributed

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere" / "out.json"
    target.parent.mkdir()
    config = SimpleNamespace(stash=pytest.Stash(), option=SimpleNamespace(
        benchmark_json=target if kind == "path" else str(target), benchmark_save=None, benchmark_autosave=None))
    run = InfperfSession(settings=None, fingerprint=None)  # type: ignore[arg-type]  # only the merged JSON is read
    run.xdist_json = [{"benchmarks": [{"fullname": "a"}]}, {"benchmarks": [{"fullname": "b"}]}]
    run.attach(config)
    assert distributed.save(config, object()) == [str(target)]
    assert [b["fullname"] for b in load_json(target)["benchmarks"]] == ["a", "b"]
    assert not (tmp_path / "out.json").exists()
