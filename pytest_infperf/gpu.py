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


_CLOCK_EVENT_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# reasons that mean the card ran slower than it could for reasons other than being idle
THROTTLING = frozenset({"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                        "hw_power_brake_slowdown"})


@functools.cache
def _nvml_handle(torch_index: int) -> object | None:
    """NVML handle of the device torch calls ``torch_index`` (matched by PCI bus id; CUDA_VISIBLE_DEVICES-safe)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        import torch

        bus_id = getattr(torch.cuda.get_device_properties(torch_index), "pci_bus_id", None)
        if bus_id:
            domain = getattr(torch.cuda.get_device_properties(torch_index), "pci_domain_id", 0)
            device = getattr(torch.cuda.get_device_properties(torch_index), "pci_device_id", 0)
            return pynvml.nvmlDeviceGetHandleByPciBusId(f"{domain:08x}:{bus_id:02x}:{device:02x}.0")
    except Exception:
        pass
    try:
        return pynvml.nvmlDeviceGetHandleByIndex(torch_index)
    except Exception:
        return None


def device_state(torch_index: int = 0) -> dict[str, object]:
    """Clocks, temperature, power, memory in use and clock-event (throttle) reasons of the GPU, now."""
    handle = _nvml_handle(torch_index)
    if handle is None:
        return {}
    import pynvml

    out: dict[str, object] = {}
    probes = {
        "sm_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "max_sm_clock_mhz": lambda: pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "mem_clock_mhz": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM),
        "temperature_c": lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
        "power_w": lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
        "memory_used_mib": lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20,
    }
    for key, probe in probes.items():
        try:
            out[key] = probe()
        except Exception:
            continue
    # cumulative time the driver held clocks down for power or temperature: before/after a cell gives throttling
    # *during* it without sampling while it is timed
    for key, policy in (("power_violation_ns", "NVML_PERF_POLICY_POWER"), ("thermal_violation_ns",
                                                                           "NVML_PERF_POLICY_THERMAL")):
        try:
            out[key] = int(pynvml.nvmlDeviceGetViolationStatus(handle, getattr(pynvml, policy)).violationTime)
        except Exception:
            continue
    getter = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
    )
    if getter is not None:
        try:
            mask = int(getter(handle))
            out["clock_event_reasons"] = [name for bit, name in _CLOCK_EVENT_REASONS.items() if mask & bit]
        except Exception:
            pass
    return out
