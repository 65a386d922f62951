"""Shared helpers for the plugin tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAKE_TEST = '''
import pytest

def net():
    return {"ms": 10.0}

@pytest.mark.infperf(model=net, input_shape=(3, 8, 8))
def test_net(infperf):
    infperf.benchmark()
'''

# A small real CNN for real-backend runs; TINY_BLOCKS (default 4) injects a real slowdown.
TINY_TEST = '''
import os

import pytest
import torch


class Tiny(torch.nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = torch.nn.Sequential(
            *[torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()) for _ in range(blocks)]
        )
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.blocks(torch.relu(self.stem(x))).mean((2, 3)))


def tiny():
    # TINY_BLOCKS injects a real slowdown: more layers, more work, in torch and in the ONNX export alike
    return Tiny(int(os.environ.get("TINY_BLOCKS", "4")))


@pytest.mark.infperf(model=tiny, input_shape=(3, 32, 32))
def test_tiny(infperf):
    infperf.benchmark()
'''

FAKE_ARGS = ("-p", "infperf_fake", "--infperf-backends=fake", "--infperf-devices=cpu", "--infperf-batches=1,8",
             "-p", "no:cacheprovider", "-o", "infperf_check_outputs=off")


def run_fake(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAKE_ARGS, *args)


def saved_files(root: Path) -> list[Path]:
    return sorted((root / "baselines").glob("*/*.json"))


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
