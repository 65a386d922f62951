"""Shared helpers for the plugin tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_infperf.matrix import Case
from pytest_infperf.measure.concurrency import ConcurrencyStats
from pytest_infperf.measure.memory import MemoryStats
from pytest_infperf.measure.results import CellResult, ColdStart, OutputCheck
from pytest_infperf.measure.stats import summarize
from pytest_infperf.measure.timing import Timing
from pytest_infperf.serving.results import (
    BatcherSettings,
    LoadResult,
    LoadSpec,
    Outcome,
    ServingResult,
    TritonStats,
)

# A model with two int64 inputs by name and a float one (tests/e2e/test_inputs.py on the CPU, test_gpu.py on every
# CUDA backend); forward asserts the generated values are valid, so a generator that breaks the ranges (ids outside the
# vocabulary, masks not of ones, zero floats) fails the run. The checks read values back, which a CUDA graph capture,
# torch.compile's tracing and the ONNX export cannot: they run on the other calls.
TWO_INPUTS = '''
import pytest
import torch


def _checking():
    capturing = torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
    return not (capturing or torch.compiler.is_compiling() or torch.jit.is_tracing())


class Two(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 8)
        self.lin = torch.nn.Linear(8, 4)

    def forward(self, input_ids, attention_mask, scale):
        if _checking():
            assert input_ids.dtype == torch.int64 and attention_mask.dtype == torch.int64, "integer inputs"
            assert int(input_ids.min()) >= 5 and int(input_ids.max()) < 50, "ids in [low, high)"
            assert bool((attention_mask == 1).all()), "mask of ones"
            assert bool((scale != 0).all()), "floats never zero"
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1).to(self.lin.weight.dtype)
        return {"hidden": self.lin(h) * scale.unsqueeze(1), "pooled": (h.mean(1), h.amax(1))}


def two():
    return Two()


@pytest.mark.infperf(
    model=two,
    inputs={"input_ids": dict(shape=("seq",), dtype="int64", low=5, high=50),
            "attention_mask": dict(shape=("seq",), dtype="int64", fill=1),
            "scale": dict(shape=(4,))},
    dims={"seq": [4, 8]}, unit="sequence", sequence_dim="seq",
)
def test_two(infperf):
    infperf.benchmark()
'''

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


def _not_strict(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")


def load_json(path: Path) -> dict:
    """A JSON file we wrote, parsed as github-action-benchmark and Bencher do: NaN, Infinity and -Infinity are
    errors."""
    return json.loads(path.read_text(), parse_constant=_not_strict)


# A measured cell built directly (no backend, no session), for unit tests of rendering and recommendation.
def cell(backend: str = "torch", batch: int = 1, per_image_ms: float = 1.0, *, model: str = "net",
         device: str = "cpu", precision: str = "fp32", mib: float | None = None, flops_per_image: float | None = None,
         shape: tuple[int, ...] = (3, 8, 8), ok: bool = True, concurrency: int = 1) -> CellResult:
    case = Case(backend, device, precision, batch, shape, concurrency=concurrency)
    per_call = per_image_ms / 1e3 * batch
    samples = tuple(per_call * (1 + 0.001 * i) for i in (-2, -1, 0, 1, 2))
    return CellResult(
        nodeid=f"test_perf.py::test_{model}[{case.id}]", model=model, case=case,
        timing=Timing(samples, 1, per_call, 3, 0.01, True, 0.1), summary=summarize(samples),
        cold=ColdStart(0.01, per_call), versions=(),
        check=OutputCheck("torch fp32", 0.0 if ok else 1.0, 1e-2),
        memory=None if mib is None else MemoryStats(rss_before_mib=100.0, rss_peak_mib=mib),
        flops_per_image=flops_per_image,
    )


# A fake-backend cell built directly, with concurrent users when asked (for recommend and plots unit tests).
def fake_cell(batch: int = 1, per_call_ms: float = 1.0, *, ok: bool = True, users: int = 1,
         images_per_s: float | None = None) -> CellResult:
    case = Case("fake", "cpu", "fp32", batch, (3, 8, 8), concurrency=users)
    per_call = per_call_ms / 1e3
    samples = tuple(per_call * (1 + 0.001 * i) for i in (-2, -1, 0, 1, 2))
    concurrency = None
    if images_per_s is not None:
        concurrency = ConcurrencyStats(users, 100, 1.0, images_per_s, per_call, per_call, per_call, (25,) * users)
    return CellResult(
        nodeid=f"test_perf.py::test_net[{case.id}]", model="net", case=case,
        timing=Timing(samples, 1, per_call, 3, 0.01, True, 0.1), summary=summarize(samples),
        cold=ColdStart(0.01, per_call), versions=(), check=OutputCheck("torch fp32", 0.0 if ok else 1.0, 1e-2),
        concurrency=concurrency,
    )


# A finished serving cell built directly (no server), for the serving report and plots unit tests.
def served(max_batch: int, users: int = 1, rate: float = 0.0, per_s: float = 100.0, ok: bool = True) -> ServingResult:
    spec = LoadSpec(users=users, rate=rate)
    load = LoadResult(spec, window_s=2.0, ok=int(per_s * 2), errors=0, timeouts=0, dropped=0,
                      latencies_s=tuple(0.001 * (1 + i / 100) * users for i in range(100)), stats=TritonStats())
    return ServingResult("toy", "localhost:8000", BatcherSettings(max_batch=max_batch),
                         Outcome.OK if ok else Outcome.CRASHED, load=load if ok else None)
