"""The doc-figure checker: annotations found, precision read from the written number, stale figures rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.figures import FigureError, check, exponent, find, fix, spread, written


def _setup(tmp_path: Path, doc: str, results: dict[str, object]) -> tuple[Path, Path]:
    (tmp_path / "docs").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "docs" / "a.md").write_text(doc)
    (tmp_path / "results" / "r.json").write_text(json.dumps(results))
    return tmp_path / "docs", tmp_path / "results"


@pytest.mark.parametrize(("text", "exp"), [("4.34", -2), ("170", 1), ("171", 0), ("23,000", 3), ("0.97", -2),
                                           ("15,565", 0), ("0", 0), ("100", 2)])
def test_the_precision_is_the_last_significant_digit_written(text: str, exp: int) -> None:
    assert exponent(text) == exp


def test_figures_hold_at_the_precision_they_are_written_with(tmp_path: Path) -> None:
    docs, results = _setup(tmp_path, "a <!--fig r.json x.cpu-->4.34 b <!--fig r.json x.rss-->170 MiB "
                                      "c <!--fig r.json x.rate-->23,000 d <!--fig r.json x.cpu-->4.3\n",
                           {"x": {"cpu": 4.339, "rss": 170.3, "rate": 23047}})
    assert [ok for _, _, ok in check((docs,), results)] == [True, True, True, True]
    (docs / "a.md").write_text("<!--fig r.json x.cpu-->4.33 <!--fig r.json x.rate-->18,000 "
                               "<!--fig r.json x.rss-->180\n")
    assert [ok for _, _, ok in check((docs,), results)] == [False, False, False]


def test_derived_figures(tmp_path: Path) -> None:
    docs, results = _setup(tmp_path, "<!--fig r.json cpu|inv*1e6-->230,000 lines per CPU-s, "
                                     "<!--fig r.json s|*1000-->17.7 ms\n", {"cpu": 4.339, "s": 0.0177})
    assert [round(number) for _, number, _ in check((docs,), results)] == [230468, 18]
    assert all(ok for _, _, ok in check((docs,), results))


def test_fix_rewrites_only_stale_figures_in_their_own_style(tmp_path: Path) -> None:
    docs, results = _setup(tmp_path, "| <!--fig r.json a-->385,379 | <!--fig r.json b-->1.76 | "
                                     "<!--fig r.json c-->0.97 | about <!--fig r.json a-->390,000 |\n",
                           {"a": 122474, "b": 2.038, "c": 0.974})
    done = fix((docs,), results)
    assert [new for _, new in done] == ["120,000", "2.04", "122,474"]
    assert (docs / "a.md").read_text() == ("| <!--fig r.json a-->122,474 | <!--fig r.json b-->2.04 | "
                                           "<!--fig r.json c-->0.97 | about <!--fig r.json a-->120,000 |\n")
    assert all(ok for _, _, ok in check((docs,), results))


def test_an_annotation_naming_no_result_is_an_error(tmp_path: Path) -> None:
    docs, results = _setup(tmp_path, "<!--fig r.json x.missing-->1\n", {"x": {}})
    with pytest.raises(FigureError, match=r"has no key x\.missing"):
        check((docs,), results)
    (docs / "a.md").write_text("<!--fig nope.json x-->1\n")
    with pytest.raises(FigureError, match=r"no result file nope\.json"):
        check((docs,), results)


def test_an_unannotated_number_is_not_a_figure(tmp_path: Path) -> None:
    docs, _ = _setup(tmp_path, "the shipper reached 15,565 lines/s <!-- a comment -->3\n", {})
    assert find(docs / "a.md") == []


def test_written_keeps_the_style() -> None:
    assert written(122474.0, "385,379") == "122,474"
    assert written(2.038, "1.76") == "2.04"
    assert written(23047.0, "18,000") == "23,000"
    assert written(1234.5, "1000") == "1000"


def test_against_sets_each_figure_beside_another_run(tmp_path: Path) -> None:
    docs, results = _setup(tmp_path, "<!--fig r.json a-->100 <!--fig r.json b-->2.0\n", {"a": 100, "b": 2.0})
    other = tmp_path / "other"
    other.mkdir()
    (other / "r.json").write_text(json.dumps({"a": 110}))
    assert [(number, again) for _, number, again in spread(other, (docs,), results)] == [(100.0, 110.0), (2.0, None)]


def test_reproduction_reports_the_largest_difference_of_each_section(tmp_path: Path) -> None:
    from bench.figures import reproduction

    docs, results = _setup(tmp_path, "<!--fig r.json a.x-->100 <!--fig r.json a.y-->10 <!--fig r.json b.z-->2.0 "
                                     "<!--fig r.json a.x-->100 <!--fig reproduction.json largest_difference_pct.r.a-->10 %\n",
                           {"a": {"x": 100, "y": 10}, "b": {"z": 2.0}, "provenance": {"commit": "abc"}})
    runs = []
    for i, values in enumerate([{"a": {"x": 110, "y": 9}, "b": {"z": 2.0}}, {"a": {"x": 95}, "b": {"z": 2.1}}]):
        other = tmp_path / f"other{i}"
        other.mkdir()
        (other / "r.json").write_text(json.dumps(values))
        runs.append(other)
    report = reproduction(runs, (docs,), results)
    assert report["largest_difference_pct"] == {"r": {"a": 10.0, "b": 5.0}}
    assert report["difference_pct"] == {"r": {"a": {"x": 10.0, "y": 10.0}, "b": {"z": 5.0}}}
    assert report["figures"]["r.json a.y"] == {"here": 10.0, "others": [9.0], "largest_difference_pct": 10.0}
    assert report["runs"][0] == {"r": {"commit": "abc", "measured_at": None, "load_1m": [None, None]}}
