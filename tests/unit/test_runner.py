"""The cell runner's pieces that need no backend: its random inputs and its lap record."""

from __future__ import annotations

import numpy as np

from pytest_infperf.matrix import Case
from pytest_infperf.measure import runner


def test_random_inputs_are_drawn_once_per_shape_and_seed_and_each_cell_gets_its_own_copy():
    runner._normal_batch.cache_clear()
    case = Case(backend="torch", device="cpu", precision="fp32", batch=4, input_shape=(3, 8, 8))
    first, second = runner.random_inputs(case, 0), runner.random_inputs(case, 0)
    assert runner._normal_batch.cache_info().misses == 1 and runner._normal_batch.cache_info().hits == 1
    assert np.array_equal(first, second) and first is not second and first.flags.writeable
    first[:] = 0  # a model that writes its input changes nothing for the next cell
    assert np.count_nonzero(runner.random_inputs(case, 0)) == second.size
    assert not np.array_equal(runner.random_inputs(case, 1), second)  # the seed still decides the values
    assert np.array_equal(runner.random_inputs(case, 0), runner._draw_normals(4, (3, 8, 8), 0))


def test_laps_add_up_per_name_in_the_order_first_seen():
    ticks = iter([0.0, 0.5, 0.75, 2.0, 2.25])
    lap = runner._Laps(clock=lambda: next(ticks))
    lap("inputs_s")
    lap("load_s")
    lap("inputs_s")
    lap("release_s")
    assert lap.laps() == (("inputs_s", 1.75), ("load_s", 0.25), ("release_s", 0.25))
