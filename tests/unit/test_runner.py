"""The cell runner's pieces that need no backend: its random inputs and its lap record."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_infperf.matrix import Case
from pytest_infperf.measure import runner
from pytest_infperf.measure.timing import SyncedClockTimer


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


BUILDS: list[int] = []


def counted_model():
    import torch

    BUILDS.append(1)
    return torch.nn.Linear(4, 2)


def test_ready_process_builds_the_first_cells_model_and_freezes_what_start_up_made(tmp_path):
    import gc

    from pytest_infperf.artifacts.models import ModelSpec
    from pytest_infperf.backends.torch_backend import TorchBackend
    from pytest_infperf.measure.timing import TimingPolicy

    spec = ModelSpec.from_marker(counted_model)
    case = Case(backend="torch", device="cpu", precision="fp32", batch=1, input_shape=(4,))
    request = runner.CellRequest("t::x", case, spec, tmp_path, TorchBackend(), TimingPolicy(), tmp_path, 0)
    runner.clear_sources()
    BUILDS.clear()
    try:
        runner.ready_process(request, ("torch",))
        assert BUILDS == [1] and gc.get_freeze_count() > 0
        runner.source_for(spec, tmp_path, 0)  # the cell then finds it built
        assert BUILDS == [1]
    finally:
        gc.unfreeze()  # this is the test process, not a worker
        runner.clear_sources()


def test_a_model_that_cannot_be_built_leaves_the_start_up_to_its_cell(tmp_path):
    from pytest_infperf.artifacts.models import ModelSpec
    from pytest_infperf.backends.torch_backend import TorchBackend
    from pytest_infperf.measure.timing import TimingPolicy

    def broken():
        raise RuntimeError("no weights here")

    case = Case(backend="torch", device="cpu", precision="fp32", batch=1, input_shape=(4,))
    request = runner.CellRequest("t::x", case, ModelSpec.from_marker(broken), tmp_path, TorchBackend(),
                                 TimingPolicy(), tmp_path, 0)
    try:
        runner.ready_process(request)  # no exception: the cell's own load says what is wrong
    finally:
        import gc

        gc.unfreeze()
        runner.clear_sources()


class DiagnosedSession:
    def __init__(self, host: float, total: float) -> None:
        self.result = (host, total)
        self.calls = 0

    def launch_diagnosis(self, calls: int) -> tuple[float, float]:
        self.calls = calls
        return self.result


def test_onnxruntime_cells_get_a_launch_diagnosis_from_their_session():
    bound = runner._diagnose(SyncedClockTimer(), (1e-3,) * 5, DiagnosedSession(0.9e-3, 1.0e-3))
    assert bound is not None and bound.launch_bound and bound.ratio == pytest.approx(0.9)
    session = DiagnosedSession(0.1e-3, 4.0e-3)
    free = runner._diagnose(SyncedClockTimer(), (4e-3,) * 5, session)
    assert free is not None and not free.launch_bound
    assert session.calls >= runner.DIAGNOSIS_MIN_CALLS
    assert runner._diagnose(SyncedClockTimer(), (1e-3,), object()) is None  # CPU sessions: no diagnosis
