"""serving.plots: throughput and p99 against users and request rate, one line per batcher setting."""

from __future__ import annotations

import pytest
from helpers import served

from pytest_infperf.serving.plots import _series, write_serving_plots
from pytest_infperf.serving.results import LoadSpec


def test_one_line_per_batcher_setting_in_user_order_without_failed_cells():
    cells = [served(16, 4, per_s=300.0), served(16, 1, per_s=100.0), served(8, 2, per_s=150.0),
             served(8, 4, ok=False)]
    lines = _series(cells, lambda r: r.load.spec.users, lambda r: r.load.inferences_per_s)
    assert lines == {"mb8": [(2, 150.0)], "mb16": [(1, 100.0), (4, 300.0)]}
    assert list(lines) == ["mb8", "mb16"]  # by max batch, not as strings


def test_closed_and_open_loop_cells_get_their_own_plots(tmp_path):
    pytest.importorskip("matplotlib")
    cells = [served(8, u, per_s=100.0 * u) for u in (1, 2, 4)] + [served(8, rate=r) for r in (50.0, 100.0)]
    written = write_serving_plots(cells, tmp_path / "plots", "machine-x")
    assert [p.name for p in written] == [
        "toy-serving-throughput-vs-users.png", "toy-serving-p99-vs-users.png",
        "toy-serving-throughput-vs-rate.png", "toy-serving-p99-vs-rate.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_shared_memory_loads_and_served_backends_are_kept_apart(tmp_path):
    import dataclasses

    shm = served(8, 4, per_s=400.0)
    shm = dataclasses.replace(shm, load=dataclasses.replace(shm.load, spec=LoadSpec(users=4, shm=True)))
    lines = _series([served(8, 4, per_s=300.0), shm], lambda r: r.load.spec.users, lambda r: r.load.inferences_per_s)
    assert lines == {"mb8": [(4, 300.0)], "mb8 shm": [(4, 400.0)]}
    pytest.importorskip("matplotlib")
    cells = [dataclasses.replace(served(8, u), served=backend) for u in (1, 2) for backend in ("a-cuda-fp16", "b-cpu")]
    written = write_serving_plots(cells, tmp_path, "machine-x")
    assert {p.name for p in written} == {f"toy-{b}-serving-{w}-vs-users.png" for b in ("a-cuda-fp16", "b-cpu")
                                         for w in ("throughput", "p99")}
