from __future__ import annotations

from pathlib import Path

import pytest
import scipy.stats  # noqa: F401  # imported once here: pytester's in-process runs cannot re-import numpy's C modules
from helpers import FAKE_TEST

TESTS = Path(__file__).parent  # helpers, the fake backend and the TensorRT stand-in live here


@pytest.fixture
def fake_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir with one perf test on the fake backend and baselines/ as storage."""
    pytester.makeini("[pytest]\ninfperf_storage = baselines\n")
    pytester.makepyfile(test_perf=FAKE_TEST)
    return pytester


@pytest.fixture
def xdist_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist workers are fresh interpreters whose sys.path xdist restores from the one it saw at import time, before
    tests/ was added: put the fake backend's folder (tests/) into that copy."""
    pytest.importorskip("xdist")
    import xdist.workermanage

    monkeypatch.setattr(xdist.workermanage, "_sys_path", [str(TESTS), *xdist.workermanage._sys_path])
