"""report.plots: the figures it draws, without drawing."""

from __future__ import annotations

import pytest
from dims_cells import CALLABLE, HIDDEN, SPECS, dims_cell
from helpers import fake_cell

from pytest_infperf.report import plots


def test_plot_time_per_image_is_the_tables_figure_for_concurrent_users() -> None:
    single, four = fake_cell(1, 2.0), fake_cell(1, 4.0, users=4, images_per_s=1000.0)
    assert plots._per_image(single) == pytest.approx(single.per_image)
    assert plots._per_image(four) == pytest.approx(four.per_image) == pytest.approx(1e-3)
    series = plots._series([single, four], plots._per_image)
    assert [p[1] for points in series.values() for p in points] == pytest.approx([2e-3, 1e-3])


def test_series_legends_and_titles_tell_named_dims_apart() -> None:
    # a callable's inputs have shape (): by shape alone, seq128 and seq512 would be one series
    cells = [dims_cell(CALLABLE, {"seq": v}, "torch", b, v / 100) for v in (128, 512) for b in (1, 8)]
    series = plots._series(cells, plots._per_image)
    assert list(series) == [("torch", "cpu", "fp32", "seq=128"), ("torch", "cpu", "fp32", "seq=512")]
    assert [len(points) for points in series.values()] == [2, 2]
    assert plots._legend_title(cells) == "backend device precision seq"
    # a dim the first input's shape does not show; and a shape that the dims already say is not repeated
    hidden = [dims_cell(HIDDEN, {"boxes": v}) for v in (10, 100)]
    assert list(plots._series(hidden, plots._per_image)) == [("torch", "cpu", "fp32", "boxes=10"),
                                                             ("torch", "cpu", "fp32", "boxes=100")]
    shown = [dims_cell(SPECS, {"seq": v}) for v in (128, 512)]
    assert list(plots._series(shown, plots._per_image))[0] == ("torch", "cpu", "fp32", "seq=128")
    assert plots._legend_title(shown) == "backend device precision seq"
    # one value for every cell: in the title, not the legend
    assert plots._model_title("net", cells[:2]) == "net (seq=128)" and plots._model_title("net", cells) == "net"
    assert plots._legend_title(cells[:2]) == "backend device precision"


def test_a_plot_of_cells_with_named_dims_is_written(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    cells = [dims_cell(CALLABLE, {"seq": v}, "torch", b, v / 100) for v in (128, 512) for b in (1, 8)]
    written = plots.write_plots(cells, {}, tmp_path, "machine")
    assert [p.name for p in written] == ["net-time-per-image.png"]  # no memory sampled: no memory plot


def test_plot_axes_and_titles_name_the_tests_unit(tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    drawn = []

    def figure(width, height):
        fig, ax = make(width, height)
        drawn.append((fig, ax))
        return fig, ax

    make = plots._figure
    monkeypatch.setattr(plots, "_figure", figure)
    cells = [dims_cell(SPECS, {"seq": 128}, "torch", b, mib=100.0 * b) for b in (1, 8)]
    plots.time_per_image_plot("bert", cells, "machine", tmp_path / "t.png")
    plots.memory_plot("bert", cells, "machine", tmp_path / "m.png")
    (fig, ax), (_, memory_ax) = drawn
    assert ax.get_xlabel() == memory_ax.get_xlabel() == "batch size (sequences per call, log scale)"
    assert ax.get_ylabel() == "time per sequence (ms, lower is better)"
    assert fig._suptitle.get_text().startswith("bert (seq=128): time per sequence vs batch")
    plots.time_per_image_plot("net", [fake_cell(1)], "machine", tmp_path / "image.png")
    assert drawn[-1][1].get_xlabel() == "batch size (images per call, log scale)"  # the default unit
