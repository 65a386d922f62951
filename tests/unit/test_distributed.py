"""pytest-xdist support without xdist: which GPU each worker is pinned to."""

from __future__ import annotations

import pytest


def test_xdist_pins_one_worker_per_gpu() -> None:
    from pytest_infperf.distributed import pin

    assert [pin(i, 2, 2, None, ("cuda",), False) for i in range(2)] == ["0", "1"]
    assert [pin(i, 2, 4, "3,1", ("cuda",), False) for i in range(2)] == ["3", "1"]  # the user's own restriction
    with pytest.raises(pytest.UsageError, match="one worker per GPU.*2 GPU.*-n 2"):
        pin(2, 3, 2, None, ("cuda",), False)
    with pytest.raises(pytest.UsageError, match="CPU cells measured in parallel"):
        pin(0, 2, 2, None, ("cpu", "cuda"), False)
    assert pin(0, 2, 0, None, ("cpu",), True) is None
