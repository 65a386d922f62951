"""The default suite's ResNet-18 with an optional injected slowdown, for calibrating the gate (see calibrate_gate.py).

INFPERF_CAL_SLOWDOWN=f adds real work: the network runs a second time on a crop holding (f - 1) of the pixels, so the
extra work is in the torch graph and in the ONNX export alike. f=2 runs the network twice on the full input.
"""

import math
import os

import pytest


def slowed_resnet18():
    import torch

    from pytest_infperf.models import resnet18

    factor = float(os.environ.get("INFPERF_CAL_SLOWDOWN", "1"))
    base = resnet18()
    if factor <= 1.0:
        return base

    class Slowed(torch.nn.Module):
        def __init__(self, net, factor):
            super().__init__()
            self.net = net
            self.factor = factor

        def extra_repr(self):
            return f"factor={self.factor}"  # part of the ONNX cache key: each factor is its own export

        def forward(self, x):
            side = max(32, round(int(x.shape[-1]) * math.sqrt(self.factor - 1.0)))
            extra = self.net(x[..., :side, :side])
            return self.net(x) + 0.0 * extra.sum()

    return Slowed(base, factor)


@pytest.mark.infperf(model=slowed_resnet18, input_shape=(3, 224, 224), name="resnet18")
def test_resnet18(infperf):
    infperf.benchmark()


def slowed_small():
    """The same network on 64x64 inputs: a small model whose runs take seconds, for calibrating in CI."""
    return slowed_resnet18()


@pytest.mark.infperf(model=slowed_small, input_shape=(3, 64, 64), name="resnet18-64px")
def test_small(infperf):
    infperf.benchmark()
