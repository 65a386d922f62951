"""A deterministic stand-in backend for the plugin's own tests: its calls advance a fake clock, not real time.

Loaded into pytester runs with ``-p infperf_fake``. Per-call cost = ms * batch * slowdown * run offset * jitter,
where the slowdown, the run's offset (between-run noise) and the jitter seed come from environment variables, so a
test can stage A/A runs and injected regressions without hardware and without waiting.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from pytest_infperf.timing import SyncedClockTimer


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


@dataclass
class FakeSession:
    cost: float
    jitter: float
    rng: np.random.Generator
    calls: int = 0
    closed: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    buffer: object = None

    def run(self) -> object:
        self.calls += 1
        CLOCK.now += self.cost * float(np.exp(self.rng.normal(0.0, self.jitter)))
        return None

    def synchronize(self) -> None:
        return None

    def block_timer(self) -> SyncedClockTimer:
        return SyncedClockTimer(clock=CLOCK, sync=self.synchronize)

    def output(self) -> np.ndarray:
        return np.zeros(1, dtype=np.float32)

    def close(self) -> None:
        self.closed = True
        self.buffer = None

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeBackend:
    name = "fake"

    def unavailable_reason(self, case, source):
        if case.device == "cuda":
            return f"{case.id}: the fake backend has no GPU; select --infperf-devices=cpu"
        if case.precision == "int8":
            return f"{case.id}: the fake backend has no int8 path"
        return None

    def prepare(self, source):
        return None

    def load(self, case, source, inputs, cache_dir):
        time.sleep(float(os.environ.get("INFPERF_FAKE_LOAD_S", "0")))  # real time: load is timed by the host clock
        params = source.factory()
        slowdown = float(os.environ.get("INFPERF_FAKE_SLOWDOWN", "1"))
        run = int(os.environ.get("INFPERF_FAKE_RUN", "0"))
        run_sigma = float(os.environ.get("INFPERF_FAKE_RUN_SIGMA", "0.02"))
        rng = np.random.default_rng([run, case.batch, len(case.backend)])
        offset = float(np.exp(rng.normal(0.0, run_sigma)))
        cost = params.get("ms", 10.0) / 1e3 * case.batch * slowdown * offset
        session = FakeSession(cost=cost, jitter=params.get("jitter", 0.03), rng=rng)
        alloc = int(float(os.environ.get("INFPERF_FAKE_ALLOC_MIB", "0")) * 2**20)
        session.buffer = np.ones(alloc, dtype=np.uint8)  # touched pages: real resident memory for the sampler
        return session

    def versions(self):
        return {"fake": "1"}


def pytest_infperf_backend_names(config):
    return ["fake"]


def pytest_infperf_make_backend(config, name):
    return FakeBackend() if name == "fake" else None
