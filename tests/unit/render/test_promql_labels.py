"""The scanner that turns upstream PromQL into facts: which kube_* families, and which labels each is asked for."""

from __future__ import annotations

from tests.upstream.promql_labels import from_template, kube_labels


def test_matchers_and_sole_aggregations_count_joined_sides_do_not() -> None:
    expr = '''count by(node) (
      (kube_pod_status_phase{job="kube-state-metrics",phase="Running"} == 1) * on(instance,pod,namespace,cluster)
      group_left(node) topk by(instance,pod,namespace,cluster) (1, kube_pod_info{job="kube-state-metrics"}))'''
    assert kube_labels(expr) == {"kube_pod_status_phase": {"phase"}, "kube_pod_info": {"pod", "namespace"}}


def test_on_next_to_a_selector_and_trailing_by() -> None:
    expr = ('x > 0 unless on(namespace, persistentvolumeclaim) kube_persistentvolumeclaim_access_mode{'
            'access_mode="ReadOnlyMany"} == 1')
    assert kube_labels(expr) == {"kube_persistentvolumeclaim_access_mode": {"access_mode", "namespace",
                                                                            "persistentvolumeclaim"}}
    assert kube_labels('sum(changes(kube_node_status_condition{status="true"}[15m])) by (node) > 2') == {
        "kube_node_status_condition": {"status", "node"}}


def test_label_replace_targets_and_recording_rules_are_left_out() -> None:
    expr = '''max by (cluster, namespace, workload, pod) (label_replace(
        kube_pod_owner{job="kube-state-metrics", owner_kind="DaemonSet"}, "workload", "$1", "owner_name", "(.*)"))
        + sum(namespace_cpu:kube_pod_container_resource_requests:sum{})'''
    assert kube_labels(expr) == {"kube_pod_owner": {"owner_kind", "namespace", "pod"}}


def test_templates_become_promql_with_scrape_selectors_and_variables_neutral() -> None:
    template = ('sum(max by (%(clusterLabel)s, %(namespaceLabel)s, pod, container)(kube_pod_container_resource_requests{'
                '%(kubeStateMetricsSelector)s, %(clusterLabel)s="$cluster", namespace="$namespace", resource="cpu"}))'
                ' / sum(rate(x{%(cadvisorSelector)s}[%(grafanaIntervalVar)s])) * %(multiplier)s')
    expr = from_template(template)
    assert "%(" not in expr and "$" not in expr
    assert kube_labels(expr) == {"kube_pod_container_resource_requests": {"namespace", "pod", "container",
                                                                          "resource"}}


def test_label_values_lists_a_label_the_query_must_carry() -> None:
    expr = from_template('label_values(kube_pod_info{%(kubeStateMetricsSelector)s, namespace="$namespace"}, pod)')
    assert kube_labels(expr) == {"kube_pod_info": {"namespace", "pod"}}
    assert kube_labels(from_template("label_values(kube_node_info, node)")) == {"kube_node_info": {"node"}}
