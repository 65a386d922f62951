"""The default suite: ResNet-18 (torchvision architecture, random seeded weights, no download) at 224x224.

Runs with the cpu and gpu presets (``infperf_preset = auto`` picks one)."""

import pytest


@pytest.mark.infperf(
    model="pytest_infperf.artifacts.models:resnet18", input_shape=(3, 224, 224), name="resnet18", presets=("cpu", "gpu")
)
def test_resnet18(infperf):
    infperf.benchmark()
