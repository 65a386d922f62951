"""Runs cells in a child worker process, so that a crash, a hang or an out-of-memory becomes that cell's outcome.

One worker per repeat slot (``WorkerPool``; ``--infperf-repeats`` slots) is started on first use (``spawn``: a fresh
interpreter, no CUDA state inherited) and reused for the next cells; after a cell ends in a crash, timeout or
out-of-memory it is replaced, so the next cell starts on a clean device. The worker's stdout and stderr go to a log
file (with ``faulthandler`` on): a crash is reported with its signal and the last lines it logged. Without isolation
(``infperf_isolate=off``) the same `execute` runs in the pytest process: an OOM is still an outcome, but a crash ends
the session and a hang is not stopped.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import progress
from ..errors import ModelError
from .results import Outcome, OutcomeStatus

LOG_TAIL_LINES = 30
POLL_S = 0.2
PROGRESS_AFTER_S = 3.0  # a phase that lasts longer than this is shown on the terminal

_OOM_MARKERS = (
    "out of memory",
    "outofmemory",
    "cuda_error_out_of_memory",
    "cudaerrormemoryallocation",
    "failed to allocate memory",
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
)


@dataclass(frozen=True)
class Job:
    """One unit of work for a worker: a function importable by name, applied to picklable arguments."""

    label: str  # the cell id, for messages
    func: Callable[..., Any]
    args: tuple[Any, ...]
    batch: int = 0
    device: str = "cpu"


def is_oom(exc: BaseException) -> bool:
    """Out-of-memory from torch, ONNX Runtime, cuDNN/cuBLAS or the host allocator."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = f"{type(exc).__name__} {exc}".lower().replace(" ", "")
    return any(marker.replace(" ", "") in text for marker in _OOM_MARKERS)


def _device_memory(device: str) -> dict[str, float]:
    """Device memory figures at the moment of failure (NVML; no torch needed)."""
    if device != "cuda":
        from .memory import rss_mib

        return {"rss_mib": rss_mib()}
    out: dict[str, float] = {}
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_initialized():
            out["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
            out["torch_reserved_mib"] = torch.cuda.memory_reserved() / 2**20
            free, total = torch.cuda.mem_get_info()
            out["device_used_mib"] = (total - free) / 2**20
            out["device_total_mib"] = total / 2**20
    return out


def _release(device: str) -> None:
    gc.collect()
    if device == "cuda":
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_initialized():
                torch.cuda.synchronize()
                torch.cuda.empty_cache()


@dataclass(frozen=True)
class Progress:
    """A long phase's message, sent by the child while a job runs (not the job's value)."""

    message: str


def execute(job: Job) -> Any:
    """Run a job here; never raises for the job's own failures: returns the job's value, or an ``Outcome``."""
    try:
        return job.func(*job.args)
    except ModelError as exc:
        return Outcome(OutcomeStatus.ERROR, job.label, str(exc), batch=job.batch)
    except BaseException as exc:  # noqa: BLE001 - every failure of the cell is its outcome
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        if is_oom(exc):
            memory = _device_memory(job.device)
            del exc
            _release(job.device)
            first = str(tb[-1]).strip().splitlines()[0] if tb else "out of memory"
            return Outcome(OutcomeStatus.OOM, job.label, first[:500], batch=job.batch, memory=tuple(memory.items()))
        return Outcome(
            OutcomeStatus.ERROR, job.label, "".join(tb[-1:]).strip(), batch=job.batch,
            log_tail=tuple("".join(tb).splitlines()),
        )


def _worker_main(conn: Any, log_path: str, slot: str = "0", start: int = 1) -> None:
    """The child: log to a file, then run jobs until told to stop."""
    import faulthandler

    # which repeat slot and which start of it this process is (backends and test doubles may read them)
    os.environ["INFPERF_WORKER_SLOT"] = slot
    os.environ["INFPERF_WORKER_START"] = str(start)

    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    faulthandler.enable(file=log, all_threads=False)
    progress.set_sink(lambda message: conn.send(Progress(message)))
    while True:
        job = conn.recv()
        if job is None:
            return
        value = execute(job)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            conn.send(value)
        except Exception as exc:  # an unpicklable result is the job's error, not the worker's end
            conn.send(Outcome(OutcomeStatus.ERROR, job.label, f"result could not be sent back: {exc}"))


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"exit code {code}"


def _tail(path: Path, offset: int, lines: int = LOG_TAIL_LINES) -> tuple[str, ...]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return ()
    return tuple(text.splitlines()[-lines:])


class Worker:
    """The pytest side: one child process at a time, restarted after a crash, timeout or out-of-memory."""

    def __init__(self, log_dir: Path, clock: Callable[[], float] = time.monotonic, slot: str = "0") -> None:
        self.log_dir = log_dir
        self.clock = clock
        self.slot = slot
        self._proc: Any = None
        self._conn: Any = None
        self.log_path: Path | None = None
        self.starts = 0

    def _start(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.log_path = self.log_dir / f"worker-{os.getpid()}-{self.slot}-{self.starts}.log"
        self.log_path.write_text("")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, str(self.log_path), self.slot, self.starts),
                           daemon=True, name="infperf-worker")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def run(
        self, job: Job, timeout: float = 0.0, on_progress: Callable[[str, float], None] | None = None
    ) -> tuple[Any, str]:
        """(the job's value or its Outcome, log); log is what the child wrote during the job."""
        if not self.alive():
            self._start()
        assert self.log_path is not None
        offset = self.log_path.stat().st_size
        start = self.clock()
        try:
            self._conn.send(job)
        except Exception as exc:
            return Outcome(
                OutcomeStatus.ERROR, job.label,
                f"the cell could not be sent to the worker process ({type(exc).__name__}: {exc}); with isolation "
                "the model factory and backend must be picklable (module-level); or run with -o infperf_isolate=off",
                batch=job.batch,
            ), ""
        pending: tuple[str, float] | None = None
        shown = False
        while True:
            if self._conn.poll(POLL_S):
                try:
                    value = self._conn.recv()
                except (EOFError, OSError):
                    return self._crashed(job, offset)
                if isinstance(value, Progress):
                    pending, shown = (value.message, self.clock()), False
                    continue
                log = "\n".join(_tail(self.log_path, offset, lines=10**6))
                if isinstance(value, Outcome) and value.status is OutcomeStatus.OOM:
                    self.stop()  # a fresh process: nothing of the failed allocation survives into the next cell
                return value, log
            now = self.clock()
            if pending is not None and not shown and on_progress is not None and now - pending[1] >= PROGRESS_AFTER_S:
                on_progress(pending[0], now - start)
                shown = True
            if not self._proc.is_alive():
                if self._conn.poll(0):
                    continue
                return self._crashed(job, offset)
            if timeout and now - start > timeout:
                self._kill()
                return Outcome(
                    OutcomeStatus.TIMEOUT, job.label,
                    f"stopped after {timeout:g} s (--infperf-timeout)"
                    + (f" while {pending[0]}" if pending else ""),
                    batch=job.batch, log_tail=_tail(self.log_path, offset),
                ), ""

    def _crashed(self, job: Job, offset: int) -> tuple[Outcome, str]:
        self._proc.join(5)
        code = self._proc.exitcode
        assert self.log_path is not None
        tail = _tail(self.log_path, offset)
        self._proc = self._conn = None
        return Outcome(
            OutcomeStatus.CRASHED, job.label, f"the worker process died with {_signal_name(code)}",
            batch=job.batch, exit_signal=_signal_name(code), log_tail=tail,
        ), ""

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(10)
        self._proc = self._conn = None

    def ask_to_stop(self) -> None:
        """Tell the worker to exit, without waiting (`stop` waits)."""
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._conn.send(None)

    def stop(self) -> None:
        """Ask the worker to exit (it releases its device memory), kill it if it does not."""
        if self._proc is None:
            return
        self.ask_to_stop()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._proc = self._conn = None


class WorkerPool:
    """The session's worker processes, one per repeat slot: a cell's repeats run in different processes (the
    process's own state is part of what varies between runs), the same slot serving the same repeat of every cell.
    Slots start on first use and stay for the session (confirmation repeats go to them in turn)."""

    def __init__(self, log_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.log_dir = log_dir
        self.clock = clock
        self._workers: dict[int, Worker] = {}

    def worker(self, slot: int) -> Worker:
        if slot not in self._workers:
            self._workers[slot] = Worker(self.log_dir, self.clock, slot=str(slot))
        return self._workers[slot]

    def run(
        self, slot: int, job: Job, timeout: float = 0.0, on_progress: Callable[[str, float], None] | None = None
    ) -> tuple[Any, str]:
        return self.worker(slot).run(job, timeout=timeout, on_progress=on_progress)

    def start(self, slots: int, job: Job, timeout: float = 0.0) -> None:
        """Start the first ``slots`` slots' processes side by side, each running ``job`` (importing torch, creating
        its CUDA context), and return once all are ready. Started one after another, on first use, each repeat pass
        after the first waited ~10 s for its process on the H200 while nothing was measured; started together
        before any cell, they cost one start, and no cell is measured while another process is still starting.
        Failures are left for the cells (a crashed slot restarts on its next job; the cell's own load says why)."""
        from concurrent.futures import ThreadPoolExecutor

        idle = [slot for slot in range(slots) if not self.worker(slot).alive()]
        if len(idle) < 2:
            return
        with ThreadPoolExecutor(len(idle)) as threads:
            list(threads.map(lambda slot: self.worker(slot).run(job, timeout=timeout), idle))

    def stop(self, keep: int | None = None) -> None:
        """Stop every slot's process (all but slot ``keep``), releasing their memory. All are told first, then
        waited for: each takes most of a second to exit (CUDA and torch teardown), so they exit side by side."""
        leaving = [worker for slot, worker in self._workers.items() if slot != keep]
        for worker in leaving:
            worker.ask_to_stop()
        for worker in leaving:
            worker.stop()
