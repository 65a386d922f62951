"""A deterministic stand-in backend for the plugin's own tests: its calls advance a fake clock, not real time.

Loaded into pytester runs with ``-p infperf_fake``. Per-call cost = ms * batch * slowdown * run offset * jitter,
where the slowdown, the run's offset (between-run noise) and the jitter seed come from environment variables, so a
test can stage A/A runs and injected regressions without hardware and without waiting.

Failures on demand, for the isolation tests: INFPERF_FAKE_CRASH = abort | segv | hang | oom | exhaust, in the cells
whose batch is INFPERF_FAKE_CRASH_BATCH (default: every cell), during ``run`` (abort, segv, hang) or ``load`` (oom:
the error text torch raises; exhaust: a real host allocation beyond an address-space limit). INFPERF_FAKE_OOM_ABOVE=N
raises torch's out-of-memory error at load for batches above N (the max-batch search's device limit).

Outputs on demand, for the output check (``-o infperf_check_outputs=on``): the reference is all ones and so is the
output, unless INFPERF_FAKE_OUTPUT = nan | inf | wrong (one NaN, one inf, or every value doubled) in the cells whose
batch is INFPERF_FAKE_OUTPUT_BATCH (default: every cell).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from pytest_infperf.measure.timing import SyncedClockTimer


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()
_LOADS: dict[str, int] = {}  # loads of each cell in this process


@dataclass
class FakeSession:
    cost: float
    jitter: float
    rng: np.random.Generator
    calls: int = 0
    closed: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    buffer: object = None

    crash: str = ""
    batch: int = 1
    wrong: str = ""  # INFPERF_FAKE_OUTPUT for this cell

    def run(self) -> object:
        self.calls += 1
        if self.crash and self.calls > 3:  # after the first call and some warm-up: mid-cell
            _crash(self.crash)
        CLOCK.now += self.cost * float(np.exp(self.rng.normal(0.0, self.jitter)))
        return None

    def synchronize(self) -> None:
        return None

    def block_timer(self) -> SyncedClockTimer:
        return SyncedClockTimer(clock=CLOCK, sync=self.synchronize)

    def output(self) -> np.ndarray:
        out = np.ones((self.batch, 4), dtype=np.float32)
        if self.wrong == "nan":
            out[0, 0] = np.nan
        elif self.wrong == "inf":
            out[0, 0] = np.inf
        elif self.wrong == "wrong":
            out *= 2
        return out

    def close(self) -> None:
        self.closed = True
        self.buffer = None

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _crash(kind: str) -> None:
    import ctypes
    import sys

    print(f"fake backend: about to {kind}", flush=True)
    if kind == "abort":
        os.abort()
    if kind == "segv":
        ctypes.string_at(0)
    if kind == "hang":
        while True:
            time.sleep(1)
    if kind == "oom":
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.11 GiB total capacity)")
    if kind == "exhaust":
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + 256 * 2**20, hard))  # this process only: the worker
        np.ones(2**30, dtype=np.uint8)  # 1 GiB against a 256 MiB allowance: MemoryError
    print(f"unknown INFPERF_FAKE_CRASH={kind}", file=sys.stderr)


def reference_output(inputs: np.ndarray) -> np.ndarray:
    return np.ones((len(inputs), 4))


class FakeBackend:
    name = "fake"

    def unavailable_reason(self, case, source):
        if case.device == "cuda":
            return f"{case.id}: the fake backend has no GPU; select --infperf-devices=cpu"
        if case.precision == "int8":
            return f"{case.id}: the fake backend has no int8 path"
        return None

    def prepare(self, source):
        source.reference_output = reference_output  # the fake model is no torch module: its reference is all ones

    def load(self, case, source, inputs, cache_dir):
        from pytest_infperf import progress

        progress.report("loading the fake model")
        time.sleep(float(os.environ.get("INFPERF_FAKE_LOAD_S", "0")))  # real time: load is timed by the host clock
        crash = os.environ.get("INFPERF_FAKE_CRASH", "")
        only = os.environ.get("INFPERF_FAKE_CRASH_BATCH", "")
        if only and int(only) != case.batch:
            crash = ""
        if crash in ("oom", "exhaust"):
            _crash(crash)
        above = os.environ.get("INFPERF_FAKE_OOM_ABOVE", "")
        if above and case.batch > int(above):
            raise RuntimeError(f"CUDA out of memory. Tried to allocate {case.batch} MiB at batch {case.batch}")
        params = source.factory() if source.factory is not None else {}  # an .onnx source has no factory
        slowdown = float(os.environ.get("INFPERF_FAKE_SLOWDOWN", "1"))
        run = int(os.environ.get("INFPERF_FAKE_RUN", "0"))
        run_sigma = float(os.environ.get("INFPERF_FAKE_RUN_SIGMA", "0.02"))
        # each repeat runs in its own worker process (slot, and how often that slot was started): its own offset
        slot = int(os.environ.get("INFPERF_WORKER_SLOT", "0"))
        start = int(os.environ.get("INFPERF_WORKER_START", "1"))
        rng = np.random.default_rng([run, slot, start, case.batch, len(case.backend)])
        offset = float(np.exp(rng.normal(0.0, run_sigma)))
        # a slow host mode: with probability INFPERF_FAKE_SLOW_P a repeat runs INFPERF_FAKE_SLOW_FACTOR times slower
        # (launch-bound GPU cells switch modes like this); INFPERF_FAKE_SLOW_SLOTS=0,1 forces it on the first load of
        # each cell in those slots' processes, to stage a slow mode that lasts through the first repeats
        _LOADS[case.id] = loads = _LOADS.get(case.id, 0) + 1
        rng = np.random.default_rng([run, slot, start, loads, case.batch, len(case.backend)])
        offset = float(np.exp(rng.normal(0.0, run_sigma)))
        forced = {int(x) for x in os.environ.get("INFPERF_FAKE_SLOW_SLOTS", "").split(",") if x.strip()}
        slow = rng.random() < float(os.environ.get("INFPERF_FAKE_SLOW_P", "0")) or (slot in forced and loads == 1)
        if slow or _in_episode():
            offset *= float(os.environ.get("INFPERF_FAKE_SLOW_FACTOR", "1.7"))
        cost = params.get("ms", 10.0) / 1e3 * case.batch * slowdown * offset
        wrong = os.environ.get("INFPERF_FAKE_OUTPUT", "")
        only = os.environ.get("INFPERF_FAKE_OUTPUT_BATCH", "")
        if only and int(only) != case.batch:
            wrong = ""
        session = FakeSession(cost=cost, jitter=params.get("jitter", 0.03), rng=rng, crash=crash, batch=case.batch,
                              wrong=wrong)
        alloc = int(float(os.environ.get("INFPERF_FAKE_ALLOC_MIB", "0")) * 2**20)
        session.buffer = np.ones(alloc, dtype=np.uint8)  # touched pages: real resident memory for the sampler
        return session

    def versions(self):
        return {"fake": "1"}


def _in_episode() -> bool:
    """A slow host episode (INFPERF_FAKE_EPISODE_S): every load in every worker process runs slow until the
    session has waited that many (fake) seconds for the host (`patience.HostWait`, whose sleep `_fake_sleep` is)."""
    episode = float(os.environ.get("INFPERF_FAKE_EPISODE_S", "0"))
    return episode > 0 and _slept() < episode


def _slept() -> float:
    path = os.environ.get("INFPERF_FAKE_SLEPT_FILE", "")
    if not path or not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return float(f.read() or 0)


def _fake_sleep(seconds: float) -> None:
    """The session's waits for a slow host, in fake time: recorded for the worker processes, none really taken."""
    path = os.environ.get("INFPERF_FAKE_SLEPT_FILE", "")
    if path:
        total = _slept() + seconds
        with open(path, "w") as f:
            f.write(str(total))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    from pytest_infperf.session import InfperfSession

    run = InfperfSession.find(config)
    if run is not None:
        run.host_wait.sleep = _fake_sleep


def pytest_infperf_backend_names(config):
    return ["fake"]


def pytest_infperf_make_backend(config, name):
    return FakeBackend() if name == "fake" else None
