"""Typed keys for the session state kept in ``config.stash``."""

from __future__ import annotations

from typing import Any

import pytest

from .fingerprint import Fingerprint
from .gate import Verdict
from .results import CellResult
from .settings import Settings

SETTINGS = pytest.StashKey[Settings]()
FINGERPRINT = pytest.StashKey[Fingerprint]()
BASELINE = pytest.StashKey["BaselineSet | None"]()
RESULTS = pytest.StashKey[list[CellResult]]()
VERDICTS = pytest.StashKey[dict[str, Verdict]]()
COLD_VERDICTS = pytest.StashKey[dict[str, Verdict]]()
MEMORY_VERDICTS = pytest.StashKey[dict[str, Verdict]]()
SOURCES = pytest.StashKey[dict[Any, Any]]()
COMPARE = pytest.StashKey[Any]()
