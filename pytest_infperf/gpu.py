"""Is there a GPU? Answered through NVML (cheap, no torch import) and, for a cell that will run, through torch."""

from __future__ import annotations

import functools


@functools.cache
def nvml_gpus() -> tuple[dict[str, str], ...]:
    """Name, driver and CUDA driver version of each visible NVIDIA GPU; empty without NVML or a driver."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: NVML raises its own error types
        return ()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        cuda_str = f"{cuda // 1000}.{(cuda % 1000) // 10}"
        out = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.append(
                {
                    "name": str(pynvml.nvmlDeviceGetName(handle)),
                    "driver": str(driver),
                    "cuda_driver": cuda_str,
                    "memory_mib": str(mem.total // (1024 * 1024)),
                }
            )
        return tuple(out)
    except Exception:
        return ()
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def gpu_present() -> bool:
    return bool(nvml_gpus())


def cuda_unavailable_reason(cell_id: str) -> str | None:
    try:
        import torch
    except ImportError:
        return f"{cell_id}: cuda cells need torch with CUDA; pip install 'pytest-infperf[torch]'"
    if not torch.cuda.is_available():
        return (
            f"{cell_id}: CUDA is not available here (torch.cuda.is_available() is False: no NVIDIA GPU or driver); "
            "run on a GPU machine or select --infperf-devices=cpu"
        )
    return None
