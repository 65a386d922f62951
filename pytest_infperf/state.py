"""Typed keys for the session state kept in ``config.stash``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .compare.fingerprint import Fingerprint
from .compare.gate import Verdict
from .measure.results import CellResult, Outcome, Repeat
from .settings import Settings

SETTINGS = pytest.StashKey[Settings]()
FINGERPRINT = pytest.StashKey[Fingerprint]()
BASELINE = pytest.StashKey["BaselineSet | None"]()
RESULTS = pytest.StashKey[list[CellResult]]()
VERDICTS = pytest.StashKey[dict[str, Verdict]]()
COLD_VERDICTS = pytest.StashKey[dict[str, Verdict]]()
MEMORY_VERDICTS = pytest.StashKey[dict[str, Verdict]]()
COMPARE = pytest.StashKey[Any]()
OUTCOMES = pytest.StashKey[dict[str, Outcome]]()  # cells without a measurement: oom, crashed, timeout, error
MAX_BATCH = pytest.StashKey[list[Any]]()  # maxbatch.MaxBatch per search cell
WORKER = pytest.StashKey[Any]()  # worker.WorkerPool: the session's child processes for cells, one per repeat slot
TEMP_LOGS = pytest.StashKey[Path | None]()  # the workers' log folder when it is a temporary one (removed at the end)
INTERRUPTED = pytest.StashKey[bool]()  # set when saving: the session was interrupted, so no baseline is published
REPEATS = pytest.StashKey[dict[str, list[Repeat | Outcome]]]()  # nodeid -> what the interleaved passes took
XDIST_USER_DISABLE = pytest.StashKey[bool]()  # worker: the user's own --benchmark-disable
XDIST_SAVE = pytest.StashKey[Any]()  # worker: the save/autosave/json options taken over by the controller
XDIST_JSON = pytest.StashKey[list[Any]]()  # controller: each worker's pytest-benchmark JSON
XDIST_WRITTEN = pytest.StashKey[list[str]]()  # controller: files the merged results were written to
XDIST_ERRORS = pytest.StashKey[list[str]]()  # controller: workers whose results could not be collected
XDIST_DEVICES = pytest.StashKey[dict[str, str]]()  # controller: worker id -> CUDA_VISIBLE_DEVICES it ran with
XDIST_LOGS = pytest.StashKey[list[str]]()  # controller: workers' temporary log folders kept because a cell crashed
