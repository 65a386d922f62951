"""Memory of a cell: a sampler thread (process RSS; NVML device and per-process memory on a GPU) and torch's
allocator peaks, as a context manager. Peaks are relative to the level before the cell.

The sampler runs while the cell loads and makes its first call, and during a short separate pass after the timed
measurement (as rapids' pytest plugin does), never during the timed blocks, so it cannot disturb the timing.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

_MIB = 2**20


@dataclass(frozen=True)
class MemoryStats:
    rss_before_mib: float
    rss_peak_mib: float  # process RSS peak above rss_before
    device_before_mib: float | None = None  # NVML, whole device
    device_peak_mib: float | None = None  # NVML, whole device, above device_before
    process_peak_mib: float | None = None  # NVML, this process on the device (where the driver reports it)
    torch_max_allocated_mib: float | None = None  # torch.cuda.max_memory_allocated during the cell
    torch_max_reserved_mib: float | None = None
    leaked_mib: float | None = None  # device (else RSS) memory still held after the cell was released
    samples: int = 0

    @property
    def peak_mib(self) -> float:
        """The figure the gate compares: this process's device memory where known, else the device's, else RSS."""
        for value in (self.process_peak_mib, self.device_peak_mib):
            if value is not None:
                return value
        return self.rss_peak_mib


def rss_mib() -> float:
    """Resident set size of this process now (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / _MIB
    except (OSError, ValueError, IndexError):
        return 0.0


class _Nvml:
    """Device-wide and per-process memory through NVML for one CUDA device."""

    def __init__(self, torch_index: int) -> None:
        import pynvml

        from ..gpu import _nvml_handle

        self._pynvml = pynvml
        self._handle = _nvml_handle(torch_index)
        self._pid = os.getpid()

    @property
    def ok(self) -> bool:
        return self._handle is not None

    def device_mib(self) -> float:
        return self._pynvml.nvmlDeviceGetMemoryInfo(self._handle).used / _MIB

    def process_mib(self) -> float | None:
        try:
            procs = self._pynvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except Exception:
            return None
        for proc in procs:
            if proc.pid == self._pid and proc.usedGpuMemory is not None:
                return proc.usedGpuMemory / _MIB
        return None  # containers often hide the pid: device-wide memory is the fallback


class MemorySampler:
    """Samples while ``active`` is set; ``pause()``/``resume()`` keep it off the timed blocks."""

    def __init__(self, device: str, interval: float = 0.005) -> None:
        self.device = device
        self.interval = interval
        self._torch: Any = None
        self._nvml: _Nvml | None = None
        if device == "cuda":
            import torch

            self._torch = torch
            nvml = _Nvml(torch.cuda.current_device())
            self._nvml = nvml if nvml.ok else None
        self._stop = threading.Event()
        self._active = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="infperf-memory", daemon=True)
        self.rss_before = self.rss_peak = 0.0
        self.device_before = self.device_peak = None
        self.process_before = self.process_peak = None
        self.samples = 0

    def _sample(self) -> None:
        self.rss_peak = max(self.rss_peak, rss_mib())
        if self._nvml is not None:
            try:
                self.device_peak = max(self.device_peak or 0.0, self._nvml.device_mib())
                proc = self._nvml.process_mib()
            except Exception:  # NVML errors are its own types; a sampler must never take the cell down
                self._nvml = None
                proc = None
            if proc is not None:
                self.process_peak = max(self.process_peak or 0.0, proc)
        self.samples += 1

    def _loop(self) -> None:
        while True:
            self._active.wait()  # paused: blocked without waking, so the timed blocks see no sampler at all
            if self._stop.is_set():
                return
            self._sample()
            time.sleep(self.interval)

    def pause(self) -> None:
        self._active.clear()

    def resume(self) -> None:
        self._active.set()

    def __enter__(self) -> MemorySampler:
        if self._torch is not None:
            self._torch.cuda.synchronize()
            self._torch.cuda.reset_peak_memory_stats()
        self.rss_before = self.rss_peak = rss_mib()
        if self._nvml is not None:
            self.device_before = self.device_peak = self._nvml.device_mib()
            self.process_before = self._nvml.process_mib()
            self.process_peak = self.process_before
        self._active.set()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._active.set()
        self._thread.join()
        self._sample()

    def stats(self, leaked_mib: float | None = None) -> MemoryStats:
        torch = self._torch
        return MemoryStats(
            rss_before_mib=self.rss_before,
            rss_peak_mib=max(self.rss_peak - self.rss_before, 0.0),
            device_before_mib=self.device_before,
            device_peak_mib=None if self.device_peak is None else max(self.device_peak - (self.device_before or 0), 0),
            process_peak_mib=None if self.process_peak is None
            else max(self.process_peak - (self.process_before or 0.0), 0.0),
            torch_max_allocated_mib=torch.cuda.max_memory_allocated() / _MIB if torch is not None else None,
            torch_max_reserved_mib=torch.cuda.max_memory_reserved() / _MIB if torch is not None else None,
            leaked_mib=leaked_mib,
            samples=self.samples,
        )

    def held_after_release(self) -> float:
        """Memory above the pre-cell level once the cell's session is closed and caches are emptied."""
        import gc

        gc.collect()
        if self._torch is not None:
            self._torch.cuda.synchronize()
            clear = getattr(self._torch._C, "_cuda_clearCublasWorkspaces", None)
            if clear is not None:  # cuBLAS keeps a per-handle workspace from the first matmul: not the cell's leak
                clear()
            self._torch.cuda.empty_cache()
        if self._nvml is not None and self.device_before is not None:
            return max(self._nvml.device_mib() - self.device_before, 0.0)
        return max(rss_mib() - self.rss_before, 0.0)
