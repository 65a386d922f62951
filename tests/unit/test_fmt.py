"""The one formatting module."""

from __future__ import annotations

from pytest_infperf.report import fmt


def test_flops_format():
    assert fmt.fmt_flops(3.628e9) == "3.63 GFLOP"
    assert fmt.fmt_flops(84672) == "84.67 kFLOP"
    assert fmt.fmt_flops(None) == fmt.fmt_flops(0.0) == "-"
    assert fmt.fmt_tflops(0.0004) == "4.0e-04" and fmt.fmt_tflops(123.4) == "123.4"


def test_times_in_the_unit_that_suits_them():
    assert fmt.fmt_time(1.5) == "1.500 s" and fmt.fmt_time(0.0123) == "12.300 ms" and fmt.fmt_time(5e-5) == "50.0 us"
    assert fmt.fmt_time(0.0123, 2, "µs") == "12.30 ms" and fmt.fmt_time(5e-5, 2, "µs") == "50.0 µs"
    assert fmt.fmt_time(None) == fmt.fmt_time(float("nan")) == "-"
    assert fmt.fmt_ms(0.0012345) == "1.23 ms" and fmt.fmt_ms(0.0012345, 3) == "1.234 ms" and fmt.fmt_ms(None) == "-"


def test_tables_align_and_markdown_escapes_on_request():
    assert fmt.columns(["a", "bb"], [["xyz", "1"]], right={1}) == ["a    bb", "---  --", "xyz   1"]
    assert fmt.markdown_table(["a", "b"], [["x|y", "1"]], right={1}) == ["| a | b |", "|---|---:|", "| x|y | 1 |"]
    assert fmt.markdown_table(["a"], [["x|y"]], escape=True)[2] == "| x\\|y |"


def test_plots_and_fmt_time_choose_a_time_unit_in_one_place():
    from pytest_infperf.report import plots

    for seconds, unit in ((2.0, "s"), (1.0, "s"), (0.5, "ms"), (1e-3, "ms"), (9.99e-4, "µs"), (0.0, "µs")):
        assert fmt.time_unit(seconds, "µs")[1] == unit
        assert fmt.fmt_time(seconds, 2, "µs").endswith(f" {unit}")
    assert fmt.time_unit(0.5) == (1e3, "ms") and fmt.time_unit(5e-5) == (1e6, "us")
    assert plots.time_unit is fmt.time_unit and not hasattr(plots, "_time_unit")


def test_plain_numbers_and_missing_ones():
    assert fmt.fmt_number(2.0, "g") == "2" and fmt.fmt_number(1.234, ".2f") == "1.23" and fmt.fmt_number(5) == "5.0"
    assert {fmt.fmt_number(None), fmt.fmt_number(float("nan")), fmt.fmt_number(float("inf"))} == {fmt.MISSING}
