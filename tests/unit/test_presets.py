"""Direct tests of pytest_infperf.presets: the named matrices and how auto resolves."""

from __future__ import annotations

import pytest

from pytest_infperf import presets
from pytest_infperf.backends import REGISTRY
from pytest_infperf.matrix import DEVICES, PRECISIONS, parse_batches, parse_choices


def test_auto_picks_gpu_or_cpu_and_other_names_pass_through() -> None:
    assert presets.resolve(presets.AUTO, gpu_present=True) == "gpu"
    assert presets.resolve(presets.AUTO, gpu_present=False) == "cpu"
    assert presets.resolve("seed002", gpu_present=False) == "seed002"  # a named preset is never swapped


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_fills_the_four_axes_with_valid_values(name: str) -> None:
    preset = presets.PRESETS[name]
    assert set(preset) == {"backends", "devices", "precisions", "batches"}
    parse_choices(name, preset["backends"], tuple(REGISTRY))  # built-in backends only
    parse_choices(name, preset["devices"], DEVICES)
    parse_choices(name, preset["precisions"], PRECISIONS)
    assert parse_batches(name, preset["batches"])


def test_the_cpu_preset_stays_on_the_cpu_and_the_gpu_preset_on_cuda() -> None:
    assert presets.PRESETS["cpu"]["devices"] == "cpu"
    assert presets.PRESETS["gpu"]["devices"] == "cuda" and presets.PRESETS["bert-gpu"]["devices"] == "cuda"
    assert presets.AUTO not in presets.PRESETS  # auto is a choice, not a matrix
