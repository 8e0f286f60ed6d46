"""The scale bench's comparisons: shards' union against the unsharded output, pods per shard, counts per name."""

from __future__ import annotations

from collections import Counter

from bench.bench_scale import name_counts_diff, pods_of, union_check

WHOLE = {'kube_pod_info{namespace="a",pod="p1",uid="1"}': 1.0, 'kube_pod_info{namespace="b",pod="p2",uid="2"}': 1.0,
         'kube_node_info{node="n1"}': 1.0}


def test_a_clean_split_is_a_union_equal_to_the_whole() -> None:
    parts = [{k: v for k, v in WHOLE.items() if "p1" in k}, {k: v for k, v in WHOLE.items() if "p1" not in k}]
    assert union_check(WHOLE, parts) == {"unsharded_series": 3, "union_series": 3, "overlapping_series": 0,
                                         "missing_from_union": 0, "extra_in_union": 0, "different_values": 0}


def test_overlap_loss_and_changed_values_are_counted() -> None:
    node = 'kube_node_info{node="n1"}'
    parts = [{node: 1.0}, {node: 2.0, 'kube_node_info{node="n2"}': 1.0}]
    check = union_check(WHOLE, parts)
    assert check["overlapping_series"] == 1 and check["missing_from_union"] == 2 and check["extra_in_union"] == 1
    assert check["different_values"] == 1


def test_pods_are_read_from_kube_pod_info_whatever_the_label_order() -> None:
    series = {**WHOLE, 'kube_pod_info{uid="3",pod="p3",namespace="c"}': 1.0,
              'kube_pod_status_phase{namespace="z",pod="zz",phase="Running"}': 1.0}
    assert pods_of(series) == {("a", "p1"), ("b", "p2"), ("c", "p3")}


def test_series_counts_are_compared_for_names_both_serve() -> None:
    diff = name_counts_diff(Counter(kube_pod_info=3, kube_node_info=2, ours_only=1),
                            Counter(kube_pod_info=3, kube_node_info=1, theirs_only=4))
    assert diff["names_compared"] == 2 and diff["names_equal"] == 1
    assert diff["differing"] == {"kube_node_info": {"observe": 2, "kube_state_metrics": 1}}
    assert diff["only_observe"] == ["ours_only"] and diff["only_kube_state_metrics"] == ["theirs_only"]
