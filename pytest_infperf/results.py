"""What a measured cell produced: plain frozen data that could cross a process boundary."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .matrix import Case
from .stats import Summary
from .timing import Timing


@dataclass(frozen=True)
class ColdStart:
    load_s: float  # build/export/compile + session creation
    first_call_s: float  # first inference after load, including lazy init and autotuning
    phases: tuple[tuple[str, float], ...] = ()  # backend-reported parts of load_s, e.g. export_s


@dataclass(frozen=True)
class CellResult:
    nodeid: str
    model: str
    case: Case
    timing: Timing
    summary: Summary
    cold: ColdStart
    versions: tuple[tuple[str, str], ...]

    @property
    def per_image(self) -> float:
        return self.summary.median / self.case.batch

    @property
    def images_per_s(self) -> float:
        return self.case.batch / self.summary.median

    def to_json(self) -> dict[str, object]:
        """The ``extra_info["infperf"]`` entry stored with the cell in pytest-benchmark's JSON."""
        return {
            "model": self.model,
            "cell": self.case.id,
            "backend": self.case.backend,
            "device": self.case.device,
            "precision": self.case.precision,
            "batch": self.case.batch,
            "input_shape": list(self.case.batch_shape),
            "time_per_batch_s": self.summary.median,
            "time_per_image_s": self.per_image,
            "images_per_s": self.images_per_s,
            "summary": asdict(self.summary),
            "block_size": self.timing.block_size,
            "warmup": {
                "calls": self.timing.warmup_calls,
                "time_s": self.timing.warmup_time,
                "settled": self.timing.warmup_settled,
            },
            "cold_start": {"load_s": self.cold.load_s, "first_call_s": self.cold.first_call_s, **dict(self.cold.phases)},
            "versions": dict(self.versions),
        }
