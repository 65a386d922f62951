"""The largest batch that runs: grow by doubling until a try fails, then bisect. Pure: the caller supplies the try.

Each try loads the cell at one batch size and runs it; the caller runs it in a worker process, so that an
out-of-memory (or a driver error at a huge batch) ends only that try and the next one starts on a clean device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum

from .results import Outcome, OutcomeStatus, strict_json
from .runner import Probe

RESOLUTION = 1 / 64  # bisect until the gap is at most this fraction of the largest batch that ran (exact below 64)


class TryStatus(str, Enum):
    """How one try ended: it ran, or why not (`OutcomeStatus`'s values). A str enum: JSON holds the plain value."""

    OK = "ok"
    OOM = OutcomeStatus.OOM.value
    CRASHED = OutcomeStatus.CRASHED.value
    TIMEOUT = OutcomeStatus.TIMEOUT.value
    ERROR = OutcomeStatus.ERROR.value

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Try:
    batch: int
    status: TryStatus
    peak_mib: float | None = None
    seconds_per_batch: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TryStatus(self.status))  # an OutcomeStatus or a plain string

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "status": self.status.value}


@dataclass(frozen=True)
class MaxBatch:
    cell: str
    model: str
    limit: int
    largest_ok: int | None
    smallest_failing: int | None
    failure: Outcome | None  # what happened at smallest_failing
    tries: tuple[Try, ...]
    seconds: float = 0.0

    @property
    def limited_by(self) -> str:
        if self.failure is None:
            return "search limit"
        return self.failure.title

    @property
    def peak_mib(self) -> float | None:
        for t in self.tries:
            if t.batch == self.largest_ok and t.status is TryStatus.OK:
                return t.peak_mib
        return None

    def to_json(self) -> dict[str, object]:
        return strict_json({
            "cell": self.cell, "model": self.model, "limit": self.limit, "largest_ok": self.largest_ok,
            "smallest_failing": self.smallest_failing, "limited_by": self.limited_by,
            "failure": self.failure.to_json() if self.failure else None, "peak_mib_at_largest": self.peak_mib,
            "tries": [t.to_json() for t in self.tries], "seconds": self.seconds,
        })


def search(
    cell: str, model: str, limit: int, try_batch: Callable[[int], Probe | Outcome], resolution: float = RESOLUTION
) -> MaxBatch:
    tries: list[Try] = []
    failure: Outcome | None = None

    def attempt(batch: int) -> bool:
        nonlocal failure
        result = try_batch(batch)
        if isinstance(result, Outcome):
            tries.append(Try(batch, TryStatus(result.status.value)))
            failure = result
            return False
        tries.append(Try(batch, TryStatus.OK, result.peak_mib, result.seconds_per_batch))
        return True

    ok: int | None = None
    failing: int | None = None
    batch = 1
    while True:
        if attempt(batch):
            ok = batch
            if batch >= limit:
                break
            batch = min(batch * 2, limit)
        else:
            failing = batch
            break
    if ok is not None and failing is not None:
        while failing - ok > max(1, int(ok * resolution)):
            mid = (ok + failing) // 2
            if attempt(mid):
                ok = mid
            else:
                failing = mid  # failures only move down: `failure` is always the one at `failing`
    return MaxBatch(cell, model, limit, ok, failing, failure if failing is not None else None, tuple(tries))
