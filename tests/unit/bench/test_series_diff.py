"""Series-by-series diff of two expositions and the known-differences rules (pure logic, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.series_diff import Difference, compare, differences, load_rules, series

OURS = b"""# HELP kube_pod_info Information about pod.
# TYPE kube_pod_info gauge
kube_pod_info{pod="a",namespace="n",uid="1"} 1
kube_pod_info{pod="b",namespace="n",uid="2"} 1
# TYPE kube_node_status_capacity gauge
kube_node_status_capacity{node="x",resource="memory",unit="byte"} 134217728
kube_node_status_capacity{node="x",resource="cpu",unit="core"} 4
# TYPE kube_pod_container_status_restarts_total counter
kube_pod_container_status_restarts_total{pod="a",namespace="n",container="c"} 3
kube_job_failed{job_name="j",namespace="n",condition="true"} 1
"""

# Same series in another label order and number format; one value differs, one series is missing, one is extra.
THEIRS = b"""# TYPE kube_pod_info gauge
kube_pod_info{namespace="n",pod="a",uid="1"} 1
kube_pod_info{namespace="n",pod="b",uid="2"} 1
kube_node_status_capacity{node="x",resource="memory",unit="byte"} 1.34217728e+08
kube_node_status_capacity{node="x",resource="cpu",unit="core"} 4
# TYPE kube_pod_container_status_restarts_total counter
kube_pod_container_status_restarts_total{namespace="n",pod="a",container="c"} 2
kube_job_failed{job_name="j",namespace="n",condition="false"} 0
"""


def test_label_order_and_number_format_are_not_differences() -> None:
    ours, theirs = series(OURS), series(THEIRS)
    assert len(ours) == 6 and len(theirs) == 6
    found = {(d.kind, d.key[0]) for d in differences(ours, theirs)}
    assert found == {("value", "kube_pod_container_status_restarts_total"),
                     ("only_ours", "kube_job_failed"), ("only_theirs", "kube_job_failed")}
    value = next(d for d in differences(ours, theirs) if d.kind == "value")
    assert (value.ours, value.theirs) == (3.0, 2.0)
    assert 'container="c",namespace="n",pod="a"' in str(value)


def test_a_label_value_counts() -> None:
    ours = series(b'kube_pod_info{pod="a",node="x"} 1\n')
    theirs = series(b'kube_pod_info{pod="a",node="y"} 1\n')
    assert [d.kind for d in differences(ours, theirs)] == ["only_ours", "only_theirs"]


def test_escaped_label_values_compare_by_their_content() -> None:
    ours = series(b'kube_node_labels{node="x",label_a="say \\"hi\\"\\\\"} 1\n')
    assert ours == series(b'kube_node_labels{label_a="say \\"hi\\"\\\\",node="x"} 1.0\n')
    assert dict(next(iter(ours))[1])["label_a"] == 'say "hi"\\'


def test_duplicate_series_are_an_error() -> None:
    with pytest.raises(ValueError, match="duplicate series"):
        series(b'kube_pod_info{pod="a"} 1\nkube_pod_info{pod="a"} 1\n')


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known.yaml"
    path.write_text(text)
    return path


def test_only_listed_differences_are_explained(tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, """
differences:
  - id: job-failed-condition
    kind: only_ours
    name: kube_job_failed
    labels: {condition: "true"}
    reason: for the test
  - id: never-used
    kind: value
    name: kube_pod_info
    reason: for the test
"""))
    report = compare(series(OURS), series(THEIRS), rules,
                     families=["kube_pod_info", "kube_job_failed", "kube_node_status_capacity"])
    assert report.explained == {"job-failed-condition": 1}
    assert sorted(d.kind for d in report.unexplained) == ["only_theirs", "value"]
    assert report.identical == 4 and not report.ok
    assert report.families_without_series == []
    assert report.summary()["unexplained"] == 2


def test_every_family_needs_series_on_both_sides() -> None:
    ours = series(b'kube_pod_info{pod="a"} 1\nkube_pod_owner{pod="a"} 1\n')
    theirs = series(b'kube_pod_info{pod="a"} 1\n')
    report = compare(ours, theirs, [], families=["kube_pod_info", "kube_pod_owner", "kube_hpa_labels"])
    assert report.families_without_series == ["kube_pod_owner", "kube_hpa_labels"]
    assert not report.ok


def test_a_rule_without_a_reason_or_with_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"differences\[0\] lacks reason"):
        load_rules(rules_file(tmp_path, "differences:\n  - {id: x, kind: value, name: a}\n"))
    with pytest.raises(ValueError, match="kind is 'both'; expected one of only_ours, only_theirs, value"):
        load_rules(rules_file(tmp_path, "differences:\n  - {id: x, kind: both, name: a, reason: r}\n"))


def test_the_committed_list_loads_and_every_entry_has_a_reason() -> None:
    for rule in load_rules():
        assert rule.reason.strip() and rule.id


def test_a_difference_reads_as_exposition_text() -> None:
    diff = Difference("only_theirs", ("kube_pod_info", (("a", "1"), ("b", "2"))), None, 1.0)
    assert str(diff) == 'only_theirs: kube_pod_info{a="1",b="2"} ours=None theirs=1.0'
