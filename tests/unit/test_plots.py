"""report.plots: the figures it draws, without drawing."""

from __future__ import annotations

import pytest
from helpers import fake_cell

from pytest_infperf.report import plots


def test_plot_time_per_image_is_the_tables_figure_for_concurrent_users() -> None:
    single, four = fake_cell(1, 2.0), fake_cell(1, 4.0, users=4, images_per_s=1000.0)
    assert plots._per_image(single) == pytest.approx(single.per_image)
    assert plots._per_image(four) == pytest.approx(four.per_image) == pytest.approx(1e-3)
    series = plots._series([single, four], plots._per_image)
    assert [p[1] for points in series.values() for p in points] == pytest.approx([2e-3, 1e-3])
