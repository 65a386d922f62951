"""Direct tests of pytest_infperf.matrix: cell ids, parsing of the selection options, auto devices, expansion."""

from __future__ import annotations

import pytest

from pytest_infperf.matrix import Case, Selection, expand, parse_batches, parse_choices, resolve_devices

SHAPE = (3, 8, 8)


def test_case_id_names_every_axis_that_varies() -> None:
    assert Case("torch", "cuda", "fp16", 8, SHAPE).id == "torch-cuda-fp16-b8"
    assert Case("torch", "cpu", "fp32", 8, SHAPE, shape_in_id=True).id == "torch-cpu-fp32-b8-3x8x8"
    assert Case("torch", "cpu", "fp32", 8, SHAPE, concurrency=4).id == "torch-cpu-fp32-b8-c4"
    assert Case("torch", "cpu", "fp32", 1, SHAPE, max_batch=512).id == "torch-cpu-fp32-bmax"
    dims = Case("onnxruntime", "cpu", "fp32", 2, (128,), dims=(("seq", 128), ("heads", 4)), concurrency=2)
    assert dims.id == "onnxruntime-cpu-fp32-b2-seq128-heads4-c2"


def test_case_batch_shape_and_frozen_equality() -> None:
    case = Case("torch", "cpu", "fp32", 4, SHAPE)
    assert case.batch_shape == (4, 3, 8, 8)
    assert case == Case("torch", "cpu", "fp32", 4, SHAPE) and hash(case) == hash(Case("torch", "cpu", "fp32", 4, SHAPE))
    with pytest.raises(AttributeError):
        case.batch = 8  # type: ignore[misc]


def test_parse_choices_splits_on_commas_and_spaces_and_keeps_first_order() -> None:
    assert parse_choices("--x", "b, a  b,,c", ("a", "b", "c")) == ("b", "a", "c")
    assert parse_choices("--x", ["a,b", "c"], ("a", "b", "c")) == ("a", "b", "c")  # a list of strings too


def test_parse_choices_errors_name_the_flag_and_the_choices() -> None:
    with pytest.raises(pytest.UsageError, match=r"^--x: unknown 'd'; choose from a, b$"):
        parse_choices("--x", "a,d", ("a", "b"))
    with pytest.raises(pytest.UsageError, match=r"^--x: empty list; choose from a, b$"):
        parse_choices("--x", " , ", ("a", "b"))


def test_parse_batches_keeps_order_and_drops_duplicates() -> None:
    assert parse_batches("--b", "8,1 8 32") == (8, 1, 32)
    assert parse_batches("--b", "007") == (7,)


@pytest.mark.parametrize(("raw", "message"), [
    ("", r"--b: empty list; give positive integers, e.g. --b=1,8,32"),
    ("1,0x10", r"--b: '0x10' is not an integer"),
    ("1e3", r"--b: '1e3' is not an integer"),
    ("-2", r"--b: batch -2 is not positive"),
])
def test_parse_batches_refuses_what_is_not_a_positive_integer(raw: str, message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        parse_batches("--b", raw)


def test_parse_batches_names_what_it_parses() -> None:
    with pytest.raises(pytest.UsageError, match="--c: concurrency 0 is not positive"):
        parse_batches("--c", "0", what="concurrency")


def test_auto_device_is_the_gpu_when_one_is_visible_and_duplicates_collapse() -> None:
    assert resolve_devices(("auto", "cpu"), gpu_present=True) == ("cuda", "cpu")
    assert resolve_devices(("auto", "cpu"), gpu_present=False) == ("cpu",)
    assert resolve_devices(("cuda", "auto"), gpu_present=True) == ("cuda",)


def test_expand_is_the_product_in_a_stable_order() -> None:
    selection = Selection(("torch", "onnxruntime"), ("cpu",), ("fp32", "fp16"), (1, 8), (1, 2))
    cells = expand(selection, [SHAPE])
    assert len(cells) == 2 * 2 * 2 * 2
    assert [c.id for c in cells[:5]] == ["torch-cpu-fp32-b1", "torch-cpu-fp32-b1-c2", "torch-cpu-fp32-b8",
                                         "torch-cpu-fp32-b8-c2", "torch-cpu-fp16-b1"]
    assert cells[-1].id == "onnxruntime-cpu-fp16-b8-c2"
    assert all(not c.shape_in_id and c.max_batch == 0 for c in cells)


def test_expand_puts_the_shape_in_the_id_only_when_several_are_swept() -> None:
    cells = expand(Selection(("torch",), ("cpu",), ("fp32",), (1,)), [[3, 8, 8], (3, 16, 16)])
    assert [c.id for c in cells] == ["torch-cpu-fp32-b1-3x8x8", "torch-cpu-fp32-b1-3x16x16"]
    assert cells[0].input_shape == (3, 8, 8)  # a list becomes a tuple


def test_expand_with_max_batch_makes_one_search_cell_per_combination() -> None:
    selection = Selection(("torch",), ("cpu", "cuda"), ("fp32",), (1, 8, 64), (1, 4))
    cells = expand(selection, [SHAPE], max_batch=256)
    assert [c.id for c in cells] == ["torch-cpu-fp32-bmax", "torch-cuda-fp32-bmax"]  # batches and users dropped
    assert all(c.max_batch == 256 and c.batch == 1 and c.concurrency == 1 for c in cells)
