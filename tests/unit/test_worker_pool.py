"""WorkerPool.start: the repeat slots' processes start side by side, before any cell is measured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_jobs import meet

from pytest_infperf.measure.worker import Job, WorkerPool


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[WorkerPool]:
    workers = WorkerPool(tmp_path / "logs")
    (tmp_path / "met").mkdir()
    yield workers
    workers.stop()


def test_the_slots_start_together_and_stay_for_the_cells(pool: WorkerPool, tmp_path: Path):
    met = tmp_path / "met"
    pool.start(3, Job("start-up", meet, (str(met), 3, 20.0)))
    slots = sorted(p.read_text() for p in met.iterdir())
    assert slots == ["0", "1", "2"]  # one process per slot
    assert len(list((tmp_path / "met-met").iterdir())) == 3  # all three inside the start-up job at once
    assert all(pool.worker(slot).alive() for slot in range(3))
    pids = {p.name for p in met.iterdir()}
    # the cells then run in those very processes: nothing is started again
    value, _ = pool.run(1, Job("cell", meet, (str(met), 3, 0.0)))
    assert value == "met" and {p.name for p in met.iterdir()} == pids
    assert [pool.worker(slot).starts for slot in range(3)] == [1, 1, 1]


def test_start_leaves_running_slots_alone(pool: WorkerPool, tmp_path: Path):
    met = tmp_path / "met"
    pool.run(0, Job("first cell", meet, (str(met), 1, 0.0)))
    pool.start(2, Job("start-up", meet, (str(met), 1, 0.0)))  # one idle slot: it starts on first use, as before
    assert [pool.worker(slot).starts for slot in range(2)] == [1, 0]



def test_stop_lets_the_slots_exit_side_by_side(pool: WorkerPool, tmp_path: Path):
    import time

    from worker_jobs import slow_exit

    left = tmp_path / "left"
    left.mkdir()
    for slot in range(3):
        pool.run(slot, Job("cell", slow_exit, (str(left), 1.0)))
    started = time.monotonic()
    pool.stop()
    took = time.monotonic() - started
    assert len(list(left.iterdir())) == 3  # each exited normally (its exit handler ran)
    assert took < 2.5, f"stopping 3 workers that take 1 s each to exit took {took:.1f} s: one after another"
