"""Jobs for worker-process tests: importable by name from a spawned worker (the tests folder is on its sys.path)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def meet(folder: str, slots: int, wait_s: float) -> str:
    """Announce this process in ``folder``, then wait until ``slots`` processes have: "met" (also written to
    ``folder``-met/<pid>) only when they ran at the same time (a slot started after this one's job returned would
    never be seen)."""
    Path(folder, f"{os.getpid()}").write_text(os.environ.get("INFPERF_WORKER_SLOT", "?"))
    deadline = time.monotonic() + wait_s
    while len(list(Path(folder).iterdir())) < slots:
        if time.monotonic() > deadline:
            return "alone"
        time.sleep(0.05)
    Path(f"{folder}-met").mkdir(exist_ok=True)
    Path(f"{folder}-met", f"{os.getpid()}").touch()
    return "met"


def slow_exit(folder: str, seconds: float) -> str:
    """Make this worker take ``seconds`` to exit (as torch and CUDA teardown do), and note when it finished."""
    import atexit

    def leave() -> None:
        time.sleep(seconds)
        Path(folder, f"{os.getpid()}").write_text(str(time.time()))

    atexit.register(leave)
    return "ok"
