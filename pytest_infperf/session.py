"""The run's state in one object: ``InfperfSession``, registered as a plugin ("infperf-session") and kept in
``config.stash``. It holds the settings, the machine fingerprint, the baseline, the worker processes, and what the
cells produced: results, verdicts (one ``compare.Verdicts`` bundle per cell: time, cold start, memory), outcomes,
max-batch searches; under pytest-xdist also what the controller collects from its workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .compare.fingerprint import Fingerprint
from .compare.gate import Verdict
from .compare.judge import Verdicts
from .measure.maxbatch import MaxBatch
from .measure.results import CellResult, Outcome, Repeat
from .patience import HostWait
from .settings import Settings

if TYPE_CHECKING:
    from .compare.baseline import BaselineSet
    from .measure.worker import WorkerPool

PLUGIN_NAME = "infperf-session"


@dataclass(eq=False)
class InfperfSession:
    settings: Settings
    fingerprint: Fingerprint
    baseline: BaselineSet | None = None
    compare: Any = None  # --benchmark-compare, held back until the session starts
    worker: WorkerPool | None = None  # the session's child processes for cells, one per repeat slot
    temp_logs: Path | None = None  # the workers' log folder when it is a temporary one (removed at the end)
    interrupted: bool = False  # set when saving: the session was interrupted, so no baseline is published
    results: list[CellResult] = field(default_factory=list)
    verdicts: dict[str, Verdicts] = field(default_factory=dict)  # node id -> the cell's bundle (time, cold, memory)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # cells without a measurement: oom, crashed, ...
    max_batch: list[MaxBatch] = field(default_factory=list)
    repeats: dict[str, list[Repeat | Outcome]] = field(default_factory=dict)  # what the interleaved passes took
    host_wait: HostWait = field(default_factory=lambda: HostWait(0.0))  # CPU cells: waiting out a slow host
    report_sections: list[Callable[[], str]] = field(default_factory=list)  # more --infperf-report markdown (serving)
    xdist_user_disable: bool = False  # worker: the user's own --benchmark-disable
    xdist_save: Any = None  # worker: the save/autosave/json options taken over by the controller
    xdist_json: list[Any] = field(default_factory=list)  # controller: each worker's pytest-benchmark JSON
    xdist_written: list[str] = field(default_factory=list)  # controller: files the merged results were written to
    xdist_errors: list[str] = field(default_factory=list)  # controller: workers whose results could not be collected
    xdist_devices: dict[str, str] = field(default_factory=dict)  # controller: worker id -> CUDA_VISIBLE_DEVICES
    xdist_logs: list[str] = field(default_factory=list)  # controller: workers' log folders kept after a crash

    def time_verdicts(self) -> dict[str, Verdict]:
        """Node id -> time verdict, for the renderers (table, plots) that show time."""
        return {nodeid: v.time for nodeid, v in self.verdicts.items() if v.time is not None}

    def other_verdicts(self) -> dict[str, dict[str, Verdict]]:
        """The verdicts beside time, by the name the summary and the report give them: kind -> node id -> verdict."""
        return {kind: {nodeid: v.kinds()[kind] for nodeid, v in self.verdicts.items() if kind in v.kinds()}
                for kind in ("cold-start", "memory")}

    def attach(self, config: pytest.Config) -> None:
        config.stash[_KEY] = self
        pluginmanager = getattr(config, "pluginmanager", None)
        if pluginmanager is not None:
            pluginmanager.register(self, PLUGIN_NAME)

    @staticmethod
    def of(config: pytest.Config) -> InfperfSession:
        return config.stash[_KEY]

    @staticmethod
    def find(config: pytest.Config) -> InfperfSession | None:
        """The session, or None where pytest_configure did not get as far as making it (a usage error)."""
        return config.stash.get(_KEY, None)


_KEY = pytest.StashKey[InfperfSession]()
