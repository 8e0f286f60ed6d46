"""Rendering kube-state-metrics families from API objects: names, labels and values as KSM gives them."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from exporters.cluster import allowlist, cron, quantity
from exporters.cluster.family import Options
from exporters.cluster.kinds import KINDS
from exporters.cluster.shard import fnv64a, jump, owns, shard_of
from exporters.cluster.store import FamilyStore

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1", "namespace": "shop", "uid": "u-1", "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True}],
    },
    "spec": {
        "nodeName": "node-a", "priorityClassName": "high",
        "containers": [
            {"name": "app", "image": "nginx:1.27", "resources": {
                "requests": {"cpu": "250m", "memory": "128Mi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "1Gi", "ephemeral-storage": "2G"}}},
            {"name": "side", "image": "busybox"},
        ],
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.5", "startTime": "2024-05-01T10:00:05Z",
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {"name": "app", "ready": True, "restartCount": 3, "image": "docker.io/library/nginx:1.27",
             "imageID": "sha256:abc", "containerID": "containerd://c1", "state": {"running": {}},
             "lastState": {"terminated": {"reason": "OOMKilled"}}},
            {"name": "side", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
             "containerID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ],
    },
}


def text(kind: str, obj: dict[str, Any], opts: Options | None = None) -> str:
    return b"".join(KINDS[kind].render(obj, opts or Options()).values()).decode()


def test_pod_families_match_kube_state_metrics() -> None:
    out = text("pods", POD)
    ident = 'namespace="shop",pod="web-1",uid="u-1"'
    assert (f'kube_pod_info{{{ident},host_ip="10.0.0.1",pod_ip="10.1.0.5",node="node-a",created_by_kind="ReplicaSet",'
            'created_by_name="web-abc",priority_class="high",host_network="false"} 1') in out
    assert f'kube_pod_owner{{{ident},owner_kind="ReplicaSet",owner_name="web-abc",owner_is_controller="true"}} 1' in out
    for phase, v in (("Pending", 0), ("Succeeded", 0), ("Failed", 0), ("Unknown", 0), ("Running", 1)):
        assert f'kube_pod_status_phase{{{ident},phase="{phase}"}} {v}\n' in out
    assert f'kube_pod_status_ready{{{ident},condition="false"}} 1' in out
    assert f'kube_pod_status_ready{{{ident},condition="true"}} 0' in out
    assert f'kube_pod_status_scheduled{{{ident},condition="true"}} 1' in out
    assert f"kube_pod_start_time{{{ident}}} 1714557605\n" in out
    assert f"kube_pod_created{{{ident}}} 1714557600\n" in out
    assert (f'kube_pod_container_info{{{ident},container="app",image_spec="nginx:1.27",'
            'image="docker.io/library/nginx:1.27",image_id="sha256:abc",container_id="containerd://c1"} 1') in out
    assert f'kube_pod_container_status_restarts_total{{{ident},container="app"}} 3' in out
    assert f'kube_pod_container_status_ready{{{ident},container="side"}} 0' in out
    assert f'kube_pod_container_status_waiting_reason{{{ident},container="side",reason="CrashLoopBackOff"}} 1' in out
    assert f'kube_pod_container_status_last_terminated_reason{{{ident},container="app",reason="OOMKilled"}} 1' in out
    assert "terminated_reason{" not in out.replace("last_terminated_reason{", "")
    req = f'kube_pod_container_resource_requests{{{ident},container="app",node="node-a"'
    assert f'{req},resource="cpu",unit="core"}} 0.25' in out
    assert f'{req},resource="memory",unit="byte"}} 134217728' in out
    assert f'{req},resource="nvidia_com_gpu",unit="integer"}} 1' in out
    lim = f'kube_pod_container_resource_limits{{{ident},container="app",node="node-a"'
    assert f'{lim},resource="ephemeral_storage",unit="byte"}} 2000000000' in out
    assert "kube_pod_labels" not in out  # no allowlist, no family (as KSM v2.x)


def test_a_null_restart_count_is_zero_as_go_reads_it() -> None:
    pod = {**POD, "status": {**POD["status"], "containerStatuses": [
        {**POD["status"]["containerStatuses"][0], "restartCount": None}]}}
    out = text("pods", pod)
    assert 'kube_pod_container_status_restarts_total{namespace="shop",pod="web-1",uid="u-1",container="app"} 0\n' in out


def test_pod_without_owner_uses_none_and_labels_follow_allowlist() -> None:
    pod = {**POD, "metadata": {**POD["metadata"], "ownerReferences": []}}
    opts = Options(labels=["app", "app.kubernetes.io/name", "missing"])
    out = text("pods", pod, opts)
    assert 'owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>"} 1' in out
    assert 'created_by_kind="<none>"' in out
    assert ('kube_pod_labels{namespace="shop",pod="web-1",uid="u-1",label_app="web",'
            'label_app_kubernetes_io_name="web"} 1') in out


def test_node_families() -> None:
    node = {"metadata": {"name": "n1", "uid": "x"}, "spec": {"unschedulable": True, "podCIDR": "10.2.0.0/24"},
            "status": {"nodeInfo": {"kubeletVersion": "v1.37.2", "osImage": "Debian"},
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}],
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}],
                       "allocatable": {"cpu": "3500m", "memory": "7Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "hugepages-2Mi": "0"}}}
    out = text("nodes", node)
    assert 'kubelet_version="v1.37.2"' in out and 'internal_ip="192.168.1.5"' in out
    assert 'kube_node_spec_unschedulable{node="n1"} 1' in out
    assert 'kube_node_status_condition{node="n1",condition="Ready",status="true"} 1' in out
    assert 'kube_node_status_condition{node="n1",condition="Ready",status="unknown"} 0' in out
    assert 'kube_node_status_condition{node="n1",condition="DiskPressure",status="false"} 1' in out
    assert 'kube_node_status_allocatable{node="n1",resource="cpu",unit="core"} 3.5' in out
    assert 'kube_node_status_allocatable{node="n1",resource="pods",unit="integer"} 110' in out
    assert 'kube_node_status_capacity{node="n1",resource="hugepages_2Mi",unit="byte"} 0' in out


def test_workload_families() -> None:
    dep = {"metadata": {"name": "web", "namespace": "shop", "generation": 4},
           "spec": {"replicas": 3}, "status": {"replicas": 3, "availableReplicas": 2, "updatedReplicas": 3,
                                               "unavailableReplicas": 1, "observedGeneration": 3}}
    out = text("deployments", dep)
    for name, v in (("spec_replicas", 3), ("status_replicas_available", 2), ("status_replicas_unavailable", 1),
                    ("status_observed_generation", 3), ("metadata_generation", 4)):
        assert f'kube_deployment_{name}{{namespace="shop",deployment="web"}} {v}\n' in out
    sts = {"metadata": {"name": "db", "namespace": "shop", "generation": 1},
           "spec": {"replicas": 2}, "status": {"readyReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}}
    out = text("statefulsets", sts)
    assert 'kube_statefulset_replicas{namespace="shop",statefulset="db"} 2' in out
    assert 'kube_statefulset_status_replicas_updated{namespace="shop",statefulset="db"} 0' in out
    assert 'kube_statefulset_status_update_revision{namespace="shop",statefulset="db",revision="db-2"} 1' in out
    rs = {"metadata": {"name": "web-abc", "namespace": "shop",
                       "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}}
    assert ('kube_replicaset_owner{namespace="shop",replicaset="web-abc",owner_kind="Deployment",owner_name="web",'
            'owner_is_controller="true"} 1') in text("replicasets", rs)


def test_deployment_conditions_carry_reason_condition_and_status_as_in_ksm() -> None:
    dep = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 1}, "status": {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "ReplicaFailure", "status": "Unknown", "reason": "FailedCreate quota exceeded"}]}}
    out = text("deployments", dep)
    ident = 'namespace="shop",deployment="web"'
    for status, v in (("true", 0), ("false", 1), ("unknown", 0)):
        assert (f'kube_deployment_status_condition{{{ident},reason="ProgressDeadlineExceeded",condition="Progressing",'
                f'status="{status}"}} {v}\n') in out
    assert (f'kube_deployment_status_condition{{{ident},reason="MinimumReplicasAvailable",condition="Available",'
            'status="true"} 1\n') in out
    # A reason the deployment controller does not write becomes "unknown", as KSM bounds the label's values.
    assert (f'kube_deployment_status_condition{{{ident},reason="unknown",condition="ReplicaFailure",'
            'status="unknown"} 1\n') in out
    assert out.count("kube_deployment_status_condition{") == 9
    assert "kube_deployment_status_condition" not in text("deployments", {"metadata": {"name": "x", "namespace": "y"}})


def test_node_taints_one_series_each() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2024-05-01T12:00:00Z"},
        {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]}}
    out = text("nodes", node)
    assert 'kube_node_spec_taint{node="n1",key="node.kubernetes.io/unreachable",value="",effect="NoSchedule"} 1\n' in out
    assert 'kube_node_spec_taint{node="n1",key="dedicated",value="gpu",effect="NoExecute"} 1\n' in out
    assert out.count("kube_node_spec_taint{") == 2
    assert "kube_node_spec_taint" not in text("nodes", {"metadata": {"name": "n2"}, "spec": {}})


def test_job_start_time_is_unix_seconds_and_absent_until_started() -> None:
    job = {"metadata": {"name": "j", "namespace": "b"}, "status": {"startTime": "2024-05-01T12:00:00Z", "active": 1}}
    assert 'kube_job_status_start_time{namespace="b",job_name="j"} 1714564800\n' in text("jobs", job)
    assert "kube_job_status_start_time" not in text("jobs", {"metadata": {"name": "k", "namespace": "b"}, "status": {}})


def test_job_failed_reasons_and_owner() -> None:
    job = {"metadata": {"name": "j", "namespace": "b"}, "spec": {"completions": 1},
           "status": {"failed": 2, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    out = text("jobs", job)
    assert 'kube_job_status_failed{namespace="b",job_name="j",reason="BackoffLimitExceeded"} 1' in out
    assert 'kube_job_status_failed{namespace="b",job_name="j",reason="Evicted"} 0' in out
    assert 'kube_job_failed{namespace="b",job_name="j",condition="true"} 1' in out
    assert 'kube_job_owner{namespace="b",job_name="j",owner_kind="",owner_name="",owner_is_controller=""} 1' in out
    ok = text("jobs", {"metadata": {"name": "k", "namespace": "b"}, "status": {"succeeded": 1}})
    assert 'kube_job_status_failed{namespace="b",job_name="k"} 0' in ok
    assert "kube_job_spec_completions" not in ok


def test_cronjob_next_schedule_after_last_schedule() -> None:
    cj = {"metadata": {"name": "c", "namespace": "b", "creationTimestamp": "2024-05-01T10:00:00Z"},
          "spec": {"schedule": "*/15 * * * *", "concurrencyPolicy": "Forbid"},
          "status": {"lastScheduleTime": "2024-05-01T10:30:00Z"}}
    out = text("cronjobs", cj)
    assert ('kube_cronjob_info{namespace="b",cronjob="c",schedule="*/15 * * * *",concurrency_policy="Forbid",'
            'timezone="local"} 1') in out
    nxt = int(datetime(2024, 5, 1, 10, 45, tzinfo=UTC).timestamp())
    assert f'kube_cronjob_next_schedule_time{{namespace="b",cronjob="c"}} {nxt}\n' in out
    assert 'kube_cronjob_status_last_schedule_time{namespace="b",cronjob="c"} 1714559400' in out
    berlin = text("cronjobs", {**cj, "spec": {**cj["spec"], "timeZone": "Europe/Berlin"}})
    assert 'concurrency_policy="Forbid",timezone="Europe/Berlin"} 1' in berlin


def test_storage_policy_and_namespace_families() -> None:
    pvc = {"metadata": {"name": "data", "namespace": "s"}, "status": {"phase": "Bound"},
           "spec": {"storageClassName": "fast", "volumeName": "pv1", "resources": {"requests": {"storage": "10Gi"}}}}
    out = text("persistentvolumeclaims", pvc)
    assert 'kube_persistentvolumeclaim_status_phase{namespace="s",persistentvolumeclaim="data",phase="Bound"} 1' in out
    assert 'storageclass="fast",volumename="pv1",volumemode=""' in out
    assert ('kube_persistentvolumeclaim_resource_requests_storage_bytes{namespace="s",persistentvolumeclaim="data"} '
            '10737418240') in out
    pv = {"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "10Gi"}}, "status": {"phase": "Released"}}
    out = text("persistentvolumes", pv)
    assert 'kube_persistentvolume_status_phase{persistentvolume="pv1",phase="Released"} 1' in out
    assert 'kube_persistentvolume_capacity_bytes{persistentvolume="pv1"} 10737418240' in out
    rq = {"metadata": {"name": "q", "namespace": "s"},
          "status": {"hard": {"requests.cpu": "2", "pods": "10"}, "used": {"requests.cpu": "500m"}}}
    out = text("resourcequotas", rq)
    assert 'kube_resourcequota{namespace="s",resourcequota="q",resource="requests.cpu",type="used"} 0.5' in out
    assert 'kube_resourcequota{namespace="s",resourcequota="q",resource="pods",type="hard"} 10' in out
    ns = {"metadata": {"name": "s", "labels": {"team": "x"}}, "status": {"phase": "Terminating"}}
    out = text("namespaces", ns, Options(labels=["*"]))
    assert 'kube_namespace_status_phase{namespace="s",phase="Terminating"} 1' in out
    assert 'kube_namespace_labels{namespace="s",label_team="x"} 1' in out
    hpa = {"metadata": {"name": "h", "namespace": "s"}, "spec": {"maxReplicas": 5},
           "status": {"currentReplicas": 2, "desiredReplicas": 3}}
    out = text("horizontalpodautoscalers", hpa)
    assert 'kube_horizontalpodautoscaler_spec_min_replicas{namespace="s",horizontalpodautoscaler="h"} 1' in out
    assert 'kube_horizontalpodautoscaler_status_desired_replicas{namespace="s",horizontalpodautoscaler="h"} 3' in out
    svc = {"metadata": {"name": "web", "namespace": "s", "uid": "su"}, "spec": {"clusterIP": "10.0.0.10"}}
    assert ('kube_service_info{namespace="s",service="web",uid="su",cluster_ip="10.0.0.10",external_name="",'
            'load_balancer_ip="",external_traffic_policy=""} 1') in text("services", svc)
    lb = {**svc, "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
          "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}
    assert 'load_balancer_ip="",external_traffic_policy="Local"} 1' in text("services", lb)  # status IPs: not KSM's


def test_node_info_kubeproxy_version_is_deprecated_as_in_ksm() -> None:
    node = {"metadata": {"name": "n1"}, "status": {"nodeInfo": {"kubeletVersion": "v1.37.2", "kubeProxyVersion": "v1"}}}
    assert 'kubelet_version="v1.37.2",kubeproxy_version="deprecated",' in text("nodes", node)


def test_label_values_are_escaped() -> None:
    pod = {"metadata": {"name": 'we"ird\\', "namespace": "n", "uid": "u"}, "status": {"phase": "Pending"}}
    assert 'pod="we\\"ird\\\\"' in text("pods", pod)


def test_quantities() -> None:
    assert quantity.cores("100m") == 0.1 and quantity.cores("2") == 2
    assert quantity.value("1Ki") == 1024 and quantity.value("1.5G") == 1.5e9 and quantity.value("1e3") == 1000
    assert quantity.value("100m") == 1  # Value() rounds up
    assert quantity.parse("bogus") is None


def test_allowlist_syntax() -> None:
    assert allowlist.parse("pods=[app,team],namespaces=[*]") == {"pods": ["app", "team"], "namespaces": ["*"]}
    assert allowlist.parse("") == {}
    with pytest.raises(ValueError, match="resource=\\[key1"):
        allowlist.parse("pods=app")
    assert allowlist.prometheus_pairs("label", {"a.b": "1", "a_b": "2"}, ["*"]) == [
        ("label_a_b", "1"), ("label_a_b_conflict1", "2")]


def test_cron_schedules() -> None:
    t = datetime(2024, 5, 1, 10, 7, tzinfo=UTC)  # a Wednesday
    assert cron.parse("@hourly").next_after(t) == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    assert cron.parse("30 2 * * 1-5").next_after(t) == datetime(2024, 5, 2, 2, 30, tzinfo=UTC)
    assert cron.parse("0 0 1 1 *").next_after(t) == datetime(2025, 1, 1, tzinfo=UTC)
    assert cron.parse("0 9 * * SUN").next_after(t) == datetime(2024, 5, 5, 9, 0, tzinfo=UTC)
    with pytest.raises(cron.CronError):
        cron.parse("61 * * * *")


def test_sharding_is_kube_state_metrics_jump_hash_of_fnv64a_of_uid() -> None:
    # FNV-1a 64 published vectors.
    assert fnv64a(b"") == 0xCBF29CE484222325 and fnv64a(b"a") == 0xAF63DC4C8601EC8C
    # The jump hash table of github.com/dgryski/go-jump's test (generated from the paper's reference C++), the
    # implementation kube-state-metrics calls: key -> bucket for 1, 2, ... buckets.
    table = {
        0: [0] * 20,
        1: [0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17],
        0xDEADBEEF: [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16],
        0x0DDC0FFEEBADF00D: [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15],
    }
    for key, buckets in table.items():
        assert [jump(key, n + 1) for n in range(len(buckets))] == buckets, hex(key)
    # kube-state-metrics' own TestSharding: UID "test_uid" is kept by shard 0 of 2, not by shard 1.
    assert owns("test_uid", 0, 2) and not owns("test_uid", 1, 2)
    uids = [f"uid-{i}" for i in range(3000)]
    split = [sum(owns(u, s, 3) for u in uids) for s in range(3)]
    assert sum(split) == 3000 and min(split) > 900
    # Consistent: going from 3 shards to 4 moves only the objects the new shard takes.
    moved = [u for u in uids if shard_of(u, 3) != shard_of(u, 4)]
    assert all(shard_of(u, 4) == 3 for u in moved) and 600 < len(moved) < 900


def test_store_replaces_deletes_and_counts_budget_drops() -> None:
    kind = KINDS["deployments"]
    drops: list[tuple[str, int]] = []
    store = FamilyStore(kind.families, budget=9, on_drop=lambda f, n: drops.append((f, n)))
    d = {"metadata": {"name": "a", "namespace": "n"}, "spec": {"replicas": 1}}
    store.put("n/a", kind.families, kind.render(d, Options()))
    assert store.series == 7
    store.put("n/b", kind.families, kind.render({**d, "metadata": {"name": "b", "namespace": "n"}}, Options()))
    assert store.series == 9 and len(drops) == 5  # two families fit, five were refused
    body = store.exposition(False).decode()
    assert "# TYPE kube_deployment_spec_replicas gauge" in body and 'deployment="b"' in body
    store.delete("n/a", kind.families)
    store.delete("n/b", kind.families)
    assert store.series == 0 and store.exposition(False) == b""


def test_openmetrics_counter_header_drops_total() -> None:
    fam = next(f for f in KINDS["pods"].families if f.name == "kube_pod_container_status_restarts_total")
    assert fam.header(True).endswith(b"# TYPE kube_pod_container_status_restarts counter\n")
    assert fam.header(False).endswith(b"# TYPE kube_pod_container_status_restarts_total counter\n")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_accepts_every_family() -> None:
    store = FamilyStore([f for k in KINDS.values() for f in k.families])
    for kind in KINDS.values():
        store.put("x", kind.families, kind.render(POD if kind.name == "pods" else {"metadata": {"name": "x"}},
                                                  Options(labels=["*"], annotations=["*"])))
    body = store.exposition(False)
    res = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_node_role_from_role_labels() -> None:
    node = {"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "",
                                                  "node-role.kubernetes.io/infra": "true",
                                                  "kubernetes.io/role": "worker", "zone": "a"}}}
    lines = [x for x in text("nodes", node).splitlines() if x.startswith("kube_node_role")]
    assert lines == ['kube_node_role{node="n1",role="worker"} 1', 'kube_node_role{node="n1",role="control-plane"} 1',
                     'kube_node_role{node="n1",role="infra"} 1']
    assert "kube_node_role" not in text("nodes", {"metadata": {"name": "n2", "labels": {"zone": "a"}}})


def test_pvc_access_modes() -> None:
    pvc = {"metadata": {"name": "data", "namespace": "ns"},
           "spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}}
    out = text("persistentvolumeclaims", pvc)
    for mode in ("ReadWriteOnce", "ReadOnlyMany"):
        assert (f'kube_persistentvolumeclaim_access_mode{{namespace="ns",persistentvolumeclaim="data",'
                f'access_mode="{mode}"}} 1') in out


def test_pod_status_reason_as_kube_state_metrics_2_20_writes_it() -> None:
    """One series (1) per known reason the pod has, "Other" for an unknown status.reason, none without a reason."""
    evicted = {**POD, "status": {**POD["status"], "phase": "Failed", "reason": "Evicted"}}
    gated = {**POD, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}
    killed = {**POD, "status": {"phase": "Failed", "containerStatuses": [
        {"name": "app", "state": {"terminated": {"reason": "TerminationByKubelet", "exitCode": 137}}}]}}
    outofcpu = {**POD, "status": {"phase": "Failed", "reason": "OutOfcpu"}}
    ident = 'namespace="shop",pod="web-1",uid="u-1"'
    for pod, hits in ((evicted, ["Evicted"]), (gated, ["SchedulingGated"]), (killed, ["TerminationByKubelet"]),
                      (outofcpu, ["Other"]), (POD, [])):
        lines = [x for x in text("pods", pod).splitlines() if x.startswith("kube_pod_status_reason")]
        assert lines == [f'kube_pod_status_reason{{{ident},reason="{hit}"}} 1' for hit in hits]


@pytest.mark.parametrize("value", [0, 1, -1, 7, 10**15 - 1, 10**15, -(10**15), 2**70, 0.5, 1.0, -2.0, 1e15, 1e20,
                                   0.1 + 0.2, float("inf"), float("nan"), True, False])
@pytest.mark.parametrize(("prefix", "extra"), [("a=\"x\"", "b=\"y\""), ("a=\"x\"", ""), ("", "b=\"y\""), ("", "")])
def test_out_writes_the_line_exposition_writes(value: float, prefix: str, extra: str) -> None:
    """Out.add writes sample lines itself for speed; they must equal exposition.line's for every kind of value."""
    from exporters.cluster.family import Out
    from observe.exposition import line

    out = Out(prefix)
    out.add("kube_x", value, extra)
    assert out.result() == {"kube_x": line("kube_x", prefix, extra, value).encode()}


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "inf", "1_000", "sNaN"])
def test_what_decimal_reads_but_no_quantity_is_not_a_quantity(text: str) -> None:
    """Found by mutating the bench's objects: ceil() of Decimal("NaN") raised and the object was left out."""
    assert quantity.parse(text) is None and quantity.value(text) is None and quantity.cores(text) is None


def test_a_pod_with_one_unreadable_quantity_keeps_its_other_series() -> None:
    pod = {**POD, "spec": {"nodeName": "n", "containers": [
        {"name": "app", "resources": {"requests": {"cpu": "NaN", "memory": "1Gi"}}}]}}
    out = text("pods", pod)
    assert 'resource="memory",unit="byte"} 1073741824' in out and 'resource="cpu"' not in out


@pytest.mark.parametrize("schedule", ["² * * * *", "*/² * * * *", "1-³ * * * *"])
def test_cron_fields_are_ascii_digits(schedule: str) -> None:
    """str.isdigit() is true of superscripts, which int() refuses with a plain ValueError."""
    with pytest.raises(cron.CronError):
        cron.parse(schedule)


def test_a_time_zone_name_too_long_for_a_file_is_unknown() -> None:
    with pytest.raises(cron.CronError, match="unknown time zone"):
        cron.parse("0 * * * *", "x" * 300)


def test_no_next_run_past_the_year_9999() -> None:
    assert cron.parse("0 0 1 1 *").next_after(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) is None
    assert cron.parse("0 0 1 1 *").next_after(datetime(9999, 6, 1, tzinfo=UTC)) is None
    cj = {"metadata": {"name": "c", "namespace": "b"}, "spec": {"schedule": "0 0 1 1 *"},
          "status": {"lastScheduleTime": "9999-12-31T23:59:59Z"}}
    out = text("cronjobs", cj)
    assert "kube_cronjob_info{" in out and "kube_cronjob_next_schedule_time" not in out
