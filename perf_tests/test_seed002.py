"""Seed 002's table, reproducible with one command (see README, "Seed 002's table"):

    pytest perf_tests --infperf-preset=seed002 --infperf-reference=torch-cpu-fp32-b16-3x224x224 \
        --infperf-report=seed002.md

ResNet-18 x {torch, onnxruntime} x {fp16, fp32} x {cuda, cpu} x batch {16, 32, 48, 64} x {224, 256} px; time per
batch, per image, speedup against the reference cell. Cells the machine cannot run (cuda without a GPU, fp16 on the
CPU) are skipped with the reason.
"""

import pytest


@pytest.mark.infperf(
    model="pytest_infperf.artifacts.models:resnet18",
    input_shape=[(3, 224, 224), (3, 256, 256)],
    name="resnet18",
    presets=("seed002",),
)
def test_resnet18_seed002(infperf):
    infperf.benchmark()
