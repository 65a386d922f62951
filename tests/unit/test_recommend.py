"""The recommendation (pure): fastest per image, lowest latency at batch 1, fastest within a memory limit."""

from __future__ import annotations

from dims_cells import CALLABLE, HIDDEN, dims_cell
from helpers import cell, fake_cell

from pytest_infperf.measure.results import Outcome
from pytest_infperf.report import recommend


def test_recommend_picks_fastest_per_image_lowest_latency_at_b1_and_within_memory():
    cells = [
        cell("torch", 1, 3.0, mib=10), cell("torch", 8, 1.0, mib=500),
        cell("onnxruntime", 1, 2.0, mib=20), cell("onnxruntime", 8, 1.5, mib=40),
    ]
    (rec,) = recommend.recommend(cells, memory_limit_mib=100)
    assert rec.fastest.case.id == "torch-cpu-fp32-b8"
    assert rec.lowest_latency.case.id == "onnxruntime-cpu-fp32-b1"
    assert rec.within_memory.case.id == "onnxruntime-cpu-fp32-b8"
    (loose,) = recommend.recommend(cells, memory_limit_mib=1000)
    assert loose.within_memory.case.id == "torch-cpu-fp32-b8"
    (unlimited,) = recommend.recommend(cells)
    assert unlimited.within_memory is None and unlimited.memory_limit_mib is None


def test_recommend_never_picks_a_wrong_output_and_names_the_least_memory_when_none_fits():
    cells = [cell("torch", 8, 0.1, ok=False, mib=1), cell("torch", 1, 2.0, mib=300), cell("torch", 4, 1.0, mib=200)]
    (rec,) = recommend.recommend(cells, memory_limit_mib=50)
    assert rec.fastest.case.id == "torch-cpu-fp32-b4"
    assert rec.within_memory is None
    assert rec.smallest_memory.case.id == "torch-cpu-fp32-b4"


def test_recommend_per_model_and_shape_ties_keep_the_first_and_b1_needs_one_user():
    cells = [
        cell("torch", 4, 1.0, model="a"), cell("onnxruntime", 4, 1.0, model="a"),
        cell("torch", 1, 1.0, model="b", concurrency=4), cell("torch", 4, 2.0, model="b", shape=(3, 16, 16)),
    ]
    recs = recommend.recommend(cells)
    assert [(r.model, r.input_shape) for r in recs] == [("a", (3, 8, 8)), ("b", (3, 8, 8)), ("b", (3, 16, 16))]
    assert recs[0].fastest.case.id == "torch-cpu-fp32-b4"  # a tie: the cell that ran first
    assert recs[0].lowest_latency is None  # no batch-1 cell
    assert recs[1].lowest_latency is None  # batch 1 with 4 users is not single-request latency


def test_no_batch_1_pick_says_why_when_batch_1_was_measured() -> None:
    (rec,) = recommend.recommend([fake_cell(1, ok=False), fake_cell(8, 4.0)])
    assert rec.lowest_latency is None
    assert rec.latency_missing == "none (fake-cpu-fp32-b1: wrong output)"
    crashed = Outcome("crashed", "fake-cpu-fp32-b1", "the worker process died with SIGABRT", batch=1)
    (rec,) = recommend.recommend([fake_cell(8, 4.0)], outcomes={"test_perf.py::test_net[fake-cpu-fp32-b1]": crashed})
    assert rec.latency_missing == "none (fake-cpu-fp32-b1: crashed)"
    (rec,) = recommend.recommend([fake_cell(8, 4.0)])
    assert rec.latency_missing == "- (no batch-1 cell; add 1 to --infperf-batches)"


def test_a_cell_with_an_outcome_is_never_recommended() -> None:
    fast, slow = fake_cell(8, 1.0), fake_cell(8, 8.0, users=2)
    oom = Outcome("oom", fast.case.id, "out of memory in repeat 2 of 3", batch=8)
    (rec,) = recommend.recommend([fast, slow], outcomes={fast.nodeid: oom})
    assert rec.fastest is slow
    assert not recommend.usable(fast, {fast.nodeid: oom}) and recommend.usable(fast)


def test_recommend_groups_by_named_dims_where_the_shape_does_not_show_them() -> None:
    # a callable's inputs have shape (), and "boxes" is not in the first input's shape: by shape alone, seq128 and
    # seq512 (boxes10 and boxes100) would be one group, and the longer sequence's slower cells never recommended
    for spec, name, values in ((CALLABLE, "seq", (128, 512)), (HIDDEN, "boxes", (10, 100))):
        cells = [dims_cell(spec, {name: v}, backend, batch, ms * v)
                 for v in values for backend, batch, ms in (("torch", 1, 1.0), ("onnxruntime", 8, 0.5))]
        recs = recommend.recommend(cells)
        assert [r.dims for r in recs] == [((name, v),) for v in values]
        assert [r.fastest.case.id for r in recs] == [f"onnxruntime-cpu-fp32-b8-{name}{v}" for v in values]
        assert [r.lowest_latency.case.id for r in recs] == [f"torch-cpu-fp32-b1-{name}{v}" for v in values]


def test_a_batch_1_outcome_is_named_in_its_own_dims_group_only() -> None:
    cells = [dims_cell(CALLABLE, {"seq": v}, "torch", 8) for v in (128, 512)]
    crashed = Outcome("crashed", "torch-cpu-fp32-b1-seq512", "the worker process died with SIGABRT", batch=1)
    recs = recommend.recommend(cells, outcomes={"test_perf.py::test_net[torch-cpu-fp32-b1-seq512]": crashed})
    assert [r.latency_missing for r in recs] == [recommend.NO_BATCH_1, "none (torch-cpu-fp32-b1-seq512: crashed)"]
