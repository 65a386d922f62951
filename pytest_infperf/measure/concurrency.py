"""Concurrent users: N sessions of one cell, each driven by its own thread, as a server's model instances would be.

Each user issues a request (one batch), waits for its own result (its session's ``synchronize``: its own CUDA stream
or ONNX Runtime session, never a device-wide sync), records the latency and issues the next, for a fixed time after
a warm-up. Aggregate throughput counts the requests that completed inside the window; latency percentiles come from
all of them. No pytest and no framework imports in here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .timing import Clock, Timing, TimingPolicy

WARMUP_CALLS = 5


@dataclass(frozen=True)
class ConcurrencyStats:
    users: int
    requests: int  # completed inside the measuring window, all users
    window_s: float
    images_per_s: float  # aggregate: requests x batch / window
    p50_s: float
    p90_s: float
    p99_s: float
    per_user_requests: tuple[int, ...]

    @property
    def fairness(self) -> float:
        """Fewest requests of one user over the most: 1.0 when every user got the same share."""
        most = max(self.per_user_requests) if self.per_user_requests else 0
        return min(self.per_user_requests) / most if most else 0.0


def _user(
    session: Any, clock: Clock, go: threading.Event, stop: threading.Event, out: list[float], errors: list
) -> None:
    try:
        go.wait()
        while not stop.is_set():
            start = clock()
            session.run()
            session.synchronize()
            out.append(clock() - start)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the measuring thread
        errors.append(exc)
        stop.set()


def measure_concurrent(
    sessions: Sequence[Any],
    batch: int,
    timing_policy: TimingPolicy,
    clock: Clock = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Timing, ConcurrencyStats]:
    """Warm every session up (its first call is the cell's cold first call), then run all users at once."""
    first_call = 0.0
    warm = 0.0
    for index, session in enumerate(sessions):
        start = clock()
        session.run()
        session.synchronize()
        if index == 0:
            first_call = clock() - start
        start = clock()
        for _ in range(WARMUP_CALLS):
            session.run()
        session.synchronize()
        warm += clock() - start

    go, stop = threading.Event(), threading.Event()
    latencies: list[list[float]] = [[] for _ in sessions]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_user, args=(s, clock, go, stop, latencies[i], errors), name=f"infperf-user-{i}",
                         daemon=True)
        for i, s in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    window = max(timing_policy.max_time, 0.0)
    started = clock()
    go.set()
    while True:
        sleep(0.01)
        elapsed = clock() - started
        done = min(len(lat) for lat in latencies)
        if errors or (elapsed >= window and done >= timing_policy.min_rounds):
            break
    counts = tuple(len(lat) for lat in latencies)  # requests completed when the window closed
    stop.set()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    samples = [lat for user, n in zip(latencies, counts, strict=True) for lat in user[:n]]
    data = np.asarray(samples, dtype=float)
    stats = ConcurrencyStats(
        users=len(sessions),
        requests=int(sum(counts)),
        window_s=float(elapsed),
        images_per_s=float(sum(counts) * batch / elapsed) if elapsed > 0 else float("inf"),
        p50_s=float(np.percentile(data, 50)),
        p90_s=float(np.percentile(data, 90)),
        p99_s=float(np.percentile(data, 99)),
        per_user_requests=counts,
    )
    timing = Timing(
        samples=tuple(samples),
        block_size=1,
        first_call=first_call,
        warmup_calls=WARMUP_CALLS * len(sessions),
        warmup_time=warm,
        warmup_settled=True,
        measure_time=float(elapsed),
    )
    return timing, stats
