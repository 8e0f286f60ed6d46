"""The one hand-written Prometheus/OpenMetrics text writer: escaping, numbers, HELP/TYPE and the _total rule."""

from __future__ import annotations

from observe.exposition import escape, header, labels, line, number, sample, zip_labels


def test_label_values_are_escaped() -> None:
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert labels((("a", "x"), ("b", 'y"'))) == 'a="x",b="y\\""'
    assert zip_labels(("a",), ("\n",)) == 'a="\\n"'


def test_numbers_print_like_the_exporters_we_replace() -> None:
    assert [number(3.0), number(0.5), number(1e16)] == ["3", "0.5", "1e+16"]


def test_infinities_and_nan_are_written_as_the_text_format_spells_them() -> None:
    """int() of these raised before: one such value stopped the whole render of its object."""
    assert [number(float("inf")), number(float("-inf")), number(float("nan"))] == ["+Inf", "-Inf", "NaN"]


def test_openmetrics_announces_a_counter_without_total() -> None:
    assert header("x_total", "counter", "X.") == "# HELP x_total X.\n# TYPE x_total counter\n"
    assert header("x_total", "counter", "X.", openmetrics=True) == "# HELP x X.\n# TYPE x counter\n"
    assert header("y_total", "gauge", "a\\b\nc", openmetrics=True) == "# HELP y_total a\\\\b\\nc\n# TYPE y_total gauge\n"


def test_sample_lines() -> None:
    assert line("m", 'a="1"', 'b="2"', 1) == 'm{a="1",b="2"} 1\n'
    assert line("m", "", "", 2.5) == "m 2.5\n"
    assert sample("m", "", "1.000000") == "m 1.000000\n"
    assert sample("m", 'p="x"', "0") == 'm{p="x"} 0\n'
