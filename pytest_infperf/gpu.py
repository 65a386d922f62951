"""Is there a GPU? Answered through NVML (cheap, no torch import) and, for a cell that will run, through torch."""

from __future__ import annotations

import dataclasses
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
# Reasons that mean the card was slowed by heat or by the hardware: a cell measured under them is not comparable.
# ``sw_power_cap`` is not among them: a data-centre GPU under heavy load runs at its board power limit (an H200 here:
# SwPowerCap in 73 of 80 samples at 687 of 700 W, SM clock 1860-1980 MHz); that is its normal operating point, so it
# is recorded and shown, never by itself a reason to discard a measurement (as nvbench, which flags only clocks
# below 75 % of the default clock).
THROTTLING = frozenset({"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"})
POWER_CAP = "sw_power_cap"
THROTTLE_CLOCK_FRACTION = 0.75  # nvbench's --throttle-threshold default: SM clock below 75 % of the default clock


def reasons_from_mask(mask: int) -> list[str]:
    return [name for bit, name in _CLOCK_EVENT_REASONS.items() if mask & bit]


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
            out["clock_event_reasons"] = reasons_from_mask(int(getter(handle)))
        except Exception:
            pass
    return out


class ClockSampler:
    """SM clock and clock-event reasons read through NVML between timed blocks (never inside one): what the card
    did *during* a cell, not only at its ends. One read costs tens of microseconds of host time outside the timing.
    Without NVML it samples nothing."""

    def __init__(self, torch_index: int = 0) -> None:
        self._handle = _nvml_handle(torch_index)
        self.clocks: list[float] = []
        self.reasons: set[str] = set()
        self.max_clock: float | None = None
        if self._handle is None:
            return
        import pynvml

        self._pynvml = pynvml
        self._getter = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        try:
            self.max_clock = float(pynvml.nvmlDeviceGetMaxClockInfo(self._handle, pynvml.NVML_CLOCK_SM))
        except Exception:
            self.max_clock = None

    def __call__(self) -> None:
        if self._handle is None:
            return
        pynvml = self._pynvml
        try:
            self.clocks.append(float(pynvml.nvmlDeviceGetClockInfo(self._handle, pynvml.NVML_CLOCK_SM)))
            if self._getter is not None:
                self.reasons.update(reasons_from_mask(int(self._getter(self._handle))))
        except Exception:  # an NVML hiccup costs a sample, never the cell
            return

    def stats(self) -> ClockStats | None:
        if not self.clocks:
            return None
        ordered = sorted(self.clocks)
        return ClockStats(
            median_mhz=ordered[len(ordered) // 2], min_mhz=ordered[0], max_sm_clock_mhz=self.max_clock,
            reasons=tuple(sorted(self.reasons)), samples=len(ordered),
        )


@dataclasses.dataclass(frozen=True)
class ClockStats:
    """SM clock during a repeat's timed blocks (NVML, read at block boundaries) and the reasons seen then."""

    median_mhz: float
    min_mhz: float
    max_sm_clock_mhz: float | None
    reasons: tuple[str, ...] = ()
    samples: int = 0

    @property
    def power_capped(self) -> bool:
        return POWER_CAP in self.reasons

    def throttled(self) -> str:
        """Why this repeat ran slowed (empty when it did not): heat or hardware slowdown reasons, or a median SM
        clock below 75 % of the card's maximum (nvbench's rule) that the power cap does not explain. A heavy GEMM
        stack at the H200's power limit runs at 1425-1485 MHz of 1980 with only ``sw_power_cap`` set: that is the
        card's normal operating point under that load, measured the same way in baseline and current runs."""
        out = []
        slowed = sorted(set(self.reasons) & THROTTLING)
        if slowed:
            out.append("throttled (" + ", ".join(slowed) + ")")
        capped_only = self.power_capped and not slowed
        if (self.max_sm_clock_mhz and self.median_mhz < THROTTLE_CLOCK_FRACTION * self.max_sm_clock_mhz
                and not capped_only):
            out.append(f"SM clock {self.median_mhz:.0f} MHz below {THROTTLE_CLOCK_FRACTION:.0%} of its "
                       f"{self.max_sm_clock_mhz:.0f} MHz maximum")
        return "; ".join(out)
