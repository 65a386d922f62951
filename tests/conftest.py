from __future__ import annotations

import pytest
import scipy.stats  # noqa: F401  # imported once here: pytester's in-process runs cannot re-import numpy's C modules
from helpers import FAKE_TEST


@pytest.fixture
def fake_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir with one perf test on the fake backend and baselines/ as storage."""
    pytester.makeini("[pytest]\ninfperf_storage = baselines\n")
    pytester.makepyfile(test_perf=FAKE_TEST)
    return pytester
