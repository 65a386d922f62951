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

FAKE_ARGS = ("-p", "infperf_fake", "--infperf-backends=fake", "--infperf-devices=cpu", "--infperf-batches=1,8",
             "-p", "no:cacheprovider", "-o", "infperf_check_outputs=off")


def run_fake(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAKE_ARGS, *args)


def saved_files(root: Path) -> list[Path]:
    return sorted((root / "baselines").glob("*/*.json"))


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
