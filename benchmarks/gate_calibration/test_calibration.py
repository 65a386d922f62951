"""Models with an optional injected slowdown, for calibrating the gate (see calibrate_gate.py).

INFPERF_CAL_SLOWDOWN=f adds real work:
- ResNet-18: the network runs a second time on a crop holding (f - 1) of the pixels, so the extra work is in the torch
  graph and in the ONNX export alike (f=2 runs the network twice on the full input). On a launch-bound GPU cell the
  second pass doubles the launches whatever f is: use the launch chain there.
- conv stack (device-bound on a GPU): 20 3x3 convolutions of 128 channels at 56x56 (or 256 channels at 28x28: the wide
  stack); f scales the depth, so the device work grows by f exactly. fp16 b64 on an H200: 3.82 ms at 1980 MHz, not
  at the power cap (the wide stack has not run there yet).
- GEMM stack (device-bound, meant to run at the power cap): 20 Linear(8192, 8192) layers on 64 x 8192 per sample;
  f scales the depth.
- launch chain (launch-bound on a GPU): 100 tiny Linear+ReLU layers at batch 1; f scales the number of layers, so the
  host's launch work grows by f.
"""

import math
import os

import pytest


def slowed_resnet18():
    import torch

    from pytest_infperf.artifacts.models import resnet18

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


def _scaled(base: int) -> int:
    return max(1, round(base * float(os.environ.get("INFPERF_CAL_SLOWDOWN", "1"))))


def _convs(channels: int):
    import torch

    layers = []
    for _ in range(_scaled(20)):
        layers += [torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def conv_stack():
    return _convs(128)


@pytest.mark.infperf(model=conv_stack, input_shape=(128, 56, 56), name="conv-stack")
def test_conv_stack(infperf):
    infperf.benchmark()


def conv_stack_wide():
    """The same FLOPs as conv_stack in wider, smaller layers (256 channels at 28x28): more of the tensor cores' work
    per byte moved, meant to reach the board power limit where conv_stack (331 W at 1980 MHz on the H200) did not."""
    return _convs(256)


@pytest.mark.infperf(model=conv_stack_wide, input_shape=(256, 28, 28), name="conv-stack-wide")
def test_conv_stack_wide(infperf):
    infperf.benchmark()


def gemm_stack():
    """Large fp16 GEMMs (8192 x 8192 weights, 64 x 64 = 4096 rows at batch 64), the heaviest tensor-core load: meant
    to run at the board power limit (a device-bound cell at the power cap). Weights drawn with variance 1/8192 keep
    the activations' scale through the 20 layers (no ReLU), so fp16 meets the output check."""
    import torch

    layers = []
    for _ in range(_scaled(20)):
        layer = torch.nn.Linear(8192, 8192, bias=False)
        torch.nn.init.normal_(layer.weight, std=8192 ** -0.5)
        layers.append(layer)
    return torch.nn.Sequential(*layers)


@pytest.mark.infperf(model=gemm_stack, input_shape=(64, 8192), name="gemm-stack")
def test_gemm_stack(infperf):
    infperf.benchmark()


def launch_chain():
    import torch

    layers = []
    for _ in range(_scaled(100)):
        layers += [torch.nn.Linear(64, 64), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


@pytest.mark.infperf(model=launch_chain, input_shape=(64,), name="launch-chain")
def test_launch_chain(infperf):
    infperf.benchmark()
