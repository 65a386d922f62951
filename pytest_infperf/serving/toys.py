"""Small models for serving tests and the client's ceiling; each factory takes no argument (like a perf test's)."""

from __future__ import annotations

import time
from typing import Any


def identity() -> Any:
    return lambda x: x


def busy_2ms() -> Any:
    """A toy whose execution takes 2 ms whatever the batch (the batcher's best case)."""

    def call(x: Any) -> Any:
        time.sleep(0.002)
        return x[:, :1] * 2

    return call


def slow_2s() -> Any:
    def call(x: Any) -> Any:
        time.sleep(2.0)
        return x

    return call


def broken() -> Any:
    raise RuntimeError("this toy model fails to build on purpose")


def small_cnn() -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10),
    )


def crash_on_call() -> Any:
    """The first call (the server's own start-up probe) answers; the next kills the serving process."""
    calls = []

    def call(x: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            import os

            os._exit(7)
        return x

    return call


def busy_env() -> Any:
    """A toy whose execution takes ``$INFPERF_TOY_SLEEP_MS`` (default 2) ms whatever the batch, read when the server
    builds it: the serving gate's tests make the same model slower between sessions."""
    import os

    seconds = float(os.environ.get("INFPERF_TOY_SLEEP_MS", "2")) / 1e3

    def call(x: Any) -> Any:
        time.sleep(seconds)
        return x[:, :1] * 2

    return call
