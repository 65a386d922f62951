"""measure.flops: FLOPs per sample, for one float input and for several/integer inputs (inputs=)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_infperf import inputs
from pytest_infperf.artifacts.models import ModelSource, ModelSpec
from pytest_infperf.measure import flops
from pytest_infperf.measure.flops import flops_per_image, flops_per_sample

torch = pytest.importorskip("torch")

CONV_FLOPS = 2 * 3 * 8 * 3 * 3 * 14 * 14  # 2 x Cin x Cout x k x k x Hout x Wout: a multiply-add counts 2


def _source(factory: object):
    return ModelSpec.from_marker(factory).resolve(Path("."), 0)


class Tokens(torch.nn.Module):
    """Embedding (a lookup: no FLOPs counted) then Linear(8, 4) per token: 2 x 8 x 4 = 64 FLOPs per token."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 8)
        self.lin = torch.nn.Linear(8, 4)

    def forward(self, input_ids, attention_mask):
        return self.lin(self.emb(input_ids) * attention_mask.unsqueeze(-1).float())


SPEC = inputs.parse({"input_ids": dict(shape=("seq",), dtype="int64", low=0, high=50),
                     "attention_mask": dict(shape=("seq",), dtype="int64", fill=1)},
                    {"seq": [4, 8]}, "sequence", "seq")


def test_a_model_with_integer_inputs_is_counted_per_sample_at_its_sequence_length():
    source = ModelSource("tokens", Tokens, None, seed=0)
    assert flops_per_sample(source, SPEC, {"seq": 4}, seed=0) == 4 * 64
    assert flops_per_sample(source, SPEC, {"seq": 8}, seed=0) == 8 * 64  # a longer sequence is more work
    assert len(source.flops) == 2  # cached per dims


def test_a_model_the_counter_cannot_run_on_these_inputs_has_no_figure():
    class Broken(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            raise RuntimeError("not on these inputs")

    assert flops_per_sample(ModelSource("broken", Broken, None, seed=0), SPEC, {"seq": 4}, seed=0) is None


def test_one_float_input_is_counted_as_before():
    source = ModelSource("lin", lambda: torch.nn.Linear(16, 2), None, seed=0)
    assert flops_per_image(source, (16,)) == 2 * 16 * 2


def test_flops_of_a_conv_and_a_linear_match_the_hand_count_and_are_cached():
    conv = _source(lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()))
    assert flops.flops_per_image(conv, (3, 16, 16)) == CONV_FLOPS
    assert conv.flops == {(3, 16, 16): CONV_FLOPS}
    conv.flops[(3, 16, 16)] = 1.0  # the second call reads the cache
    assert flops.flops_per_image(conv, (3, 16, 16)) == 1.0
    linear = _source(lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5)))
    assert flops.flops_per_image(linear, (3, 2, 2)) == 2 * 12 * 5


def test_flops_fall_back_to_a_real_forward_when_meta_tensors_cannot_run_it():
    class DataDependent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)

        def forward(self, x):
            y = self.conv(x)
            return y if float(y.mean()) > -1e9 else -y  # needs real values

    assert flops.flops_per_image(_source(DataDependent), (3, 16, 16)) == CONV_FLOPS


def test_flops_are_none_without_a_torch_module(tmp_path, monkeypatch):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")
    assert flops.flops_per_image(ModelSpec.from_marker(str(onnx_file)).resolve(tmp_path, 0), (3, 8, 8)) is None
    assert flops.flops_per_image(_source(lambda: {"ms": 1.0}), (3, 8, 8)) is None  # the fake backend's "model"
    monkeypatch.setitem(sys.modules, "torch", None)  # torch missing: never imported just to count
    assert flops.flops_per_image(_source(lambda: object()), (3, 8, 8)) is None
