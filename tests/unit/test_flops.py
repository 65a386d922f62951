"""measure.flops: FLOPs per sample, for one float input and for several/integer inputs (inputs=)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pytest_infperf import inputs  # noqa: E402
from pytest_infperf.artifacts.models import ModelSource  # noqa: E402
from pytest_infperf.measure.flops import flops_per_image, flops_per_sample  # noqa: E402


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
