"""The cluster exporter against a real kube-apiserver: values match the objects, deletions remove series, a forced
410 relist loses nothing, allowlists and sharding work, and promtool accepts the output."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.cluster.service import ClusterService
from exporters.config import ClusterExporterConfig
from observe.config import KubeConfig, ServiceConfig
from observe.kube import KubeClient
from observe.service import ServiceHost
from tests.integration.exporters.checks import promtool_check, samples
from tests.peers.base import Peer

Exporter = tuple[str, ClusterService]
Start = Callable[..., Awaitable[Exporter]]


@pytest.fixture
async def kube(kube_apiserver: Peer) -> AsyncIterator[KubeClient]:
    """Our own async client, used by the test to play the controllers (create objects, patch their status)."""
    client = await KubeClient.from_config(KubeConfig(kubeconfig=Path(str(kube_apiserver.extra["kubeconfig"]))))  # type: ignore[call-arg]
    yield client
    await client.close()


@pytest.fixture
async def start_exporter(kube_apiserver: Peer) -> AsyncIterator[Start]:
    """Start cluster exporters (config overrides as keyword arguments); all are stopped at the end."""
    hosts: list[ServiceHost] = []

    async def start(**overrides: Any) -> Exporter:
        registry = CollectorRegistry()
        kube = KubeConfig(kubeconfig=Path(str(kube_apiserver.extra["kubeconfig"])))  # type: ignore[call-arg]
        svc = ClusterService(ClusterExporterConfig(**overrides), kube, registry)
        host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
        await host.start()
        hosts.append(host)
        assert await svc.wait_synced(60), svc.readiness()
        return f"http://127.0.0.1:{host.port}", svc

    yield start
    for host in hosts:
        await host.shutdown()


async def scrape(base: str) -> bytes:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
        assert r.status == 200
        return await r.read()


def _parse_and_check(body: bytes, check: Callable[[dict[str, float]], bool]) -> tuple[dict[str, float], bool]:
    values = samples(body)
    return values, check(values)


async def eventually(base: str, check: Callable[[dict[str, float]], bool], within: float = 20.0) -> dict[str, float]:
    """Scrape until check(samples) holds (watch events arrive asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        body = await scrape(base)
        # Parsing and checking a cluster-sized exposition is CPU work (0.19 s once): a worker thread does it.
        values, ok = await asyncio.to_thread(_parse_and_check, body, check)
        if ok:
            return values
        if loop.time() > deadline:
            raise AssertionError("condition not met; last scrape had "
                                 f"{len(values)} series, e.g. {sorted(values)[:20]}")
        await asyncio.sleep(0.2)


def container(name: str, cpu: str = "250m", memory: str = "64Mi") -> dict[str, Any]:
    return {"name": name, "image": f"registry.local/{name}:1",
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": "128Mi"}}}


def running_status(names: list[str], restarts: int = 0, ready: bool = True) -> dict[str, Any]:
    now = "2024-05-01T10:00:00Z"
    return {"status": {
        "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.9", "startTime": now,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
        "containerStatuses": [{"name": n, "ready": ready, "restartCount": restarts, "image": f"registry.local/{n}:1",
                               "imageID": f"sha256:{n}", "containerID": f"containerd://{n}",
                               "state": {"running": {"startedAt": now}}} for n in names]}}


async def make_pod(kube: KubeClient, ns: str, name: str, node: str, *, owner: dict[str, Any] | None = None,
                   labels: dict[str, str] | None = None, restarts: int = 0, ready: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True}]
    pod: dict[str, Any] = await kube.request("POST", f"/api/v1/namespaces/{ns}/pods", body={
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": node, "containers": [container("app"), container("sidecar", "100m", "32Mi")]}})
    await kube.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                       body=running_status(["app", "sidecar"], restarts, ready))
    return pod


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [container("app")]}}


async def test_values_match_the_objects(kube: KubeClient, kube_namespace: str, start_exporter: Start) -> None:
    ns = kube_namespace
    node = f"node-{uuid.uuid4().hex[:8]}"
    await kube.request("POST", "/api/v1/nodes", body={"apiVersion": "v1", "kind": "Node",
                                                      "metadata": {"name": node, "labels": {"zone": "a"}},
                                                      "spec": {"unschedulable": True, "taints": [
                                                          {"key": "dedicated", "value": "db", "effect": "NoExecute"}]}})
    await kube.request("PATCH", f"/api/v1/nodes/{node}/status", body={"status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3500m", "memory": "7Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
        "nodeInfo": {"kubeletVersion": "v1.37.2", "kernelVersion": "6.1", "osImage": "Debian", "machineID": "m",
                     "systemUUID": "s", "bootID": "b", "containerRuntimeVersion": "containerd://2.0",
                     "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}})
    apps = f"/apis/apps/v1/namespaces/{ns}"
    dep = await kube.request("POST", f"{apps}/deployments", body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}})
    await kube.request("PATCH", f"{apps}/deployments/web/status", body={"status": {
        "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 1,
        "observedGeneration": 1, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}})
    rs = await kube.request("POST", f"{apps}/replicasets", body={
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                              "name": "web", "uid": dep["metadata"]["uid"],
                                                              "controller": True}]},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}})
    pod = await make_pod(kube, ns, "web-5d8f-a", node, owner=rs, restarts=4)
    await kube.request("POST", f"{apps}/statefulsets", body={
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": template("db")}})
    await kube.request("PATCH", f"{apps}/statefulsets/db/status", body={"status": {
        "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "currentRevision": "db-1", "updateRevision": "db-2",
        "observedGeneration": 1, "availableReplicas": 1}})
    await kube.request("POST", f"{apps}/daemonsets", body={
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})
    await kube.request("PATCH", f"{apps}/daemonsets/agent/status", body={"status": {
        "desiredNumberScheduled": 5, "currentNumberScheduled": 4, "numberMisscheduled": 1, "numberReady": 3,
        "numberAvailable": 3, "updatedNumberScheduled": 4}})
    batch = f"/apis/batch/v1/namespaces/{ns}"
    await kube.request("POST", f"{batch}/jobs", body={
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"completions": 3, "template": {"spec": {"restartPolicy": "Never", "containers": [container("m")]}}}})
    await kube.request("PATCH", f"{batch}/jobs/migrate/status", body={"status": {
        "startTime": "2024-05-01T10:00:00Z", "active": 1, "succeeded": 2, "failed": 0}})
    await kube.request("POST", f"{batch}/jobs", body={  # not started yet: no start time
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "backfill"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container("b")]}}}})
    await kube.request("POST", f"{batch}/cronjobs", body={
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"schedule": "30 2 * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "OnFailure", "containers": [container("n")]}}}}}})
    await kube.request("PATCH", f"{batch}/cronjobs/nightly/status",
                       body={"status": {"lastScheduleTime": "2024-05-01T02:30:00Z"}})
    hpa = f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"
    await kube.request("POST", hpa, body={
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 10}})
    await kube.request("PATCH", f"{hpa}/web/status", body={"status": {"currentReplicas": 3, "desiredReplicas": 4}})
    pv = f"pv-{uuid.uuid4().hex[:8]}"
    await kube.request("POST", "/api/v1/persistentvolumes", body={
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}}})
    await kube.request("PATCH", f"/api/v1/persistentvolumes/{pv}/status", body={"status": {"phase": "Bound"}})
    await kube.request("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", body={
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "volumeName": pv,
                 "resources": {"requests": {"storage": "5Gi"}}}})
    await kube.request("PATCH", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data/status",
                       body={"status": {"phase": "Bound"}})
    pdb = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    await kube.request("POST", pdb, body={"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                          "metadata": {"name": "web"},
                                          "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})
    await kube.request("PATCH", f"{pdb}/web/status", body={"status": {
        "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 3, "disruptionsAllowed": 0, "observedGeneration": 1}})
    await kube.request("POST", f"/api/v1/namespaces/{ns}/resourcequotas", body={
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
        "spec": {"hard": {"requests.cpu": "4", "pods": "20"}}})
    await kube.request("PATCH", f"/api/v1/namespaces/{ns}/resourcequotas/compute/status", body={"status": {
        "hard": {"requests.cpu": "4", "pods": "20"}, "used": {"requests.cpu": "350m", "pods": "1"}}})
    await kube.request("POST", f"/api/v1/namespaces/{ns}/services", body={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})

    base, _ = await start_exporter(metric_labels_allowlist="nodes=[zone],namespaces=[*]")
    uid = pod["metadata"]["uid"]
    p = f'namespace="{ns}",pod="web-5d8f-a",uid="{uid}"'
    want = {
        f'kube_pod_owner{{{p},owner_kind="ReplicaSet",owner_name="web-5d8f",owner_is_controller="true"}}': 1,
        f'kube_pod_status_phase{{{p},phase="Running"}}': 1,
        f'kube_pod_status_phase{{{p},phase="Pending"}}': 0,
        f'kube_pod_status_ready{{{p},condition="true"}}': 1,
        f'kube_pod_container_status_restarts_total{{{p},container="app"}}': 4,
        f'kube_pod_container_resource_requests{{{p},container="sidecar",node="{node}",resource="cpu",unit="core"}}': 0.1,
        f'kube_pod_container_resource_requests{{{p},container="app",node="{node}",resource="memory",unit="byte"}}':
            64 * 2**20,
        f'kube_node_spec_unschedulable{{node="{node}"}}': 1,
        f'kube_node_status_allocatable{{node="{node}",resource="cpu",unit="core"}}': 3.5,
        f'kube_node_status_condition{{node="{node}",condition="Ready",status="true"}}': 1,
        f'kube_node_spec_taint{{node="{node}",key="dedicated",value="db",effect="NoExecute"}}': 1,
        f'kube_node_labels{{node="{node}",label_zone="a"}}': 1,
        f'kube_deployment_spec_replicas{{namespace="{ns}",deployment="web"}}': 3,
        f'kube_deployment_status_replicas_available{{namespace="{ns}",deployment="web"}}': 2,
        f'kube_deployment_status_replicas_unavailable{{namespace="{ns}",deployment="web"}}': 1,
        f'kube_deployment_status_condition{{namespace="{ns}",deployment="web",reason="MinimumReplicasUnavailable",'
        'condition="Available",status="false"}': 1,
        f'kube_deployment_status_condition{{namespace="{ns}",deployment="web",reason="MinimumReplicasUnavailable",'
        'condition="Available",status="true"}': 0,
        f'kube_deployment_status_condition{{namespace="{ns}",deployment="web",reason="ReplicaSetUpdated",'
        'condition="Progressing",status="true"}': 1,
        f'kube_replicaset_owner{{namespace="{ns}",replicaset="web-5d8f",owner_kind="Deployment",owner_name="web",'
        'owner_is_controller="true"}': 1,
        f'kube_statefulset_status_replicas_ready{{namespace="{ns}",statefulset="db"}}': 1,
        f'kube_statefulset_status_update_revision{{namespace="{ns}",statefulset="db",revision="db-2"}}': 1,
        f'kube_daemonset_status_number_misscheduled{{namespace="{ns}",daemonset="agent"}}': 1,
        f'kube_daemonset_status_desired_number_scheduled{{namespace="{ns}",daemonset="agent"}}': 5,
        f'kube_job_status_succeeded{{namespace="{ns}",job_name="migrate"}}': 2,
        f'kube_job_status_active{{namespace="{ns}",job_name="migrate"}}': 1,
        f'kube_job_spec_completions{{namespace="{ns}",job_name="migrate"}}': 3,
        f'kube_job_status_start_time{{namespace="{ns}",job_name="migrate"}}': 1714557600,
        f'kube_cronjob_status_last_schedule_time{{namespace="{ns}",cronjob="nightly"}}': 1714530600,
        f'kube_cronjob_next_schedule_time{{namespace="{ns}",cronjob="nightly"}}': 1714530600 + 86400,
        f'kube_horizontalpodautoscaler_spec_min_replicas{{namespace="{ns}",horizontalpodautoscaler="web"}}': 2,
        f'kube_horizontalpodautoscaler_status_desired_replicas{{namespace="{ns}",horizontalpodautoscaler="web"}}': 4,
        f'kube_persistentvolume_status_phase{{persistentvolume="{pv}",phase="Bound"}}': 1,
        f'kube_persistentvolume_capacity_bytes{{persistentvolume="{pv}"}}': 5 * 2**30,
        f'kube_persistentvolumeclaim_status_phase{{namespace="{ns}",persistentvolumeclaim="data",phase="Bound"}}': 1,
        f'kube_persistentvolumeclaim_resource_requests_storage_bytes{{namespace="{ns}",persistentvolumeclaim="data"}}':
            5 * 2**30,
        f'kube_poddisruptionbudget_status_expected_pods{{namespace="{ns}",poddisruptionbudget="web"}}': 3,
        f'kube_resourcequota{{namespace="{ns}",resourcequota="compute",resource="requests.cpu",type="used"}}': 0.35,
        f'kube_namespace_status_phase{{namespace="{ns}",phase="Active"}}': 1,
    }
    values = await eventually(base, lambda v: all(k in v for k in want))
    assert {k: values[k] for k in want} == want
    info = [k for k in values if k.startswith(f'kube_service_info{{namespace="{ns}",service="web",')]
    assert len(info) == 1 and 'cluster_ip="10.0.0.' in info[0]
    assert f'kube_job_status_active{{namespace="{ns}",job_name="backfill"}}' in values
    assert f'kube_job_status_start_time{{namespace="{ns}",job_name="backfill"}}' not in values

    # A status change is re-rendered from the watch event.
    await kube.request("PATCH", f"{apps}/deployments/web/status", body={"status": {"availableReplicas": 3, "readyReplicas": 3,
                                                                                   "unavailableReplicas": 0}})
    await eventually(base, lambda v: v.get(f'kube_deployment_status_replicas_available{{namespace="{ns}",'
                                            'deployment="web"}') == 3)

    # The families KubeDeploymentRolloutStuck, KubeNodeUnreachable and KubeJobNotCompleted select on follow their
    # objects: a rollout past its deadline, the node controller's unreachable taint, a job that starts.
    await kube.request("PATCH", f"{apps}/deployments/web/status", body={"status": {"conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}})
    await kube.request("PATCH", f"/api/v1/nodes/{node}", body={"spec": {"taints": [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2024-05-01T11:00:00Z"}]}})
    await kube.request("PATCH", f"{batch}/jobs/backfill/status", body={"status": {"startTime": "2024-05-02T08:30:00Z",
                                                                                   "active": 1}})
    d = f'namespace="{ns}",deployment="web"'
    stuck = f'kube_deployment_status_condition{{{d},reason="ProgressDeadlineExceeded",condition="Progressing",status='
    unreachable = f'kube_node_spec_taint{{node="{node}",key="node.kubernetes.io/unreachable",value="",effect="NoSchedule"}}'
    start = f'kube_job_status_start_time{{namespace="{ns}",job_name="backfill"}}'
    values = await eventually(base, lambda v: v.get(stuck + '"false"}') == 1 and unreachable in v
                              and v.get(start) == 1714638600)
    assert values[stuck + '"true"}'] == 0 and values[stuck + '"unknown"}'] == 0
    assert values[f'kube_deployment_status_condition{{{d},reason="MinimumReplicasAvailable",condition="Available",'
                  'status="true"}'] == 1
    # Conditions and taints that went away take their series with them.
    # (Only this test's namespace: other tests on the same API server seed deployments of their own.)
    assert not [k for k in values if f'namespace="{ns}"' in k and ("ReplicaSetUpdated" in k or "MinimumReplicasUnavailable" in k)]
    assert [k for k in values if k.startswith(f'kube_node_spec_taint{{node="{node}",')] == [unreachable]
    await promtool_check(await scrape(base))


async def test_the_bench_objects_give_every_family_series(kube: KubeClient, start_exporter: Start) -> None:
    """bench/cluster_objects.py at a small scale: the API server accepts every object and status it writes, and every
    family gets series (the benchmark's diff with kube-state-metrics relies on that)."""
    from bench import cluster_objects
    from exporters.cluster.kinds import all_families

    prefix = f"cov-{uuid.uuid4().hex[:6]}"

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        await kube.request(method, path, body=body)

    await cluster_objects.seed(call, namespaces=2, nodes=8, deployments=2, pods=10, prefix=prefix)
    base, _ = await start_exporter(metric_labels_allowlist="*=[*]", metric_annotations_allowlist="*=[*]")
    ns = f'namespace="{prefix}-1"'
    want = [("kube_job_failed{", 'job_name="broken"', 'condition="true"'),
            ("kube_pod_container_status_waiting_reason{", 'pod="p1"', 'reason="CrashLoopBackOff"'),
            ("kube_pod_container_status_last_terminated_reason{", 'pod="p1"', 'reason="Error"')]

    def seen(v: dict[str, float]) -> bool:
        return all(any(k.startswith(name) and ns in k and a in k and b in k and v[k] == 1 for k in v)
                   for name, a, b in want)

    values = await eventually(base, seen)
    names = {key.split("{", 1)[0] for key in values}
    assert [f.name for _, f in all_families() if f.name not in names] == []
    reasons = {k.split("reason=")[1] for k in values if k.startswith("kube_pod_container_status_terminated_reason{")
               and f"{prefix}-" in k and values[k] == 1}
    assert {'"Completed"}', '"OOMKilled"}'} <= reasons


async def test_deleted_objects_leave_no_series(kube: KubeClient, kube_namespace: str, start_exporter: Start) -> None:
    ns = kube_namespace
    base, _ = await start_exporter(resources=["pods", "services"])
    await make_pod(kube, ns, "doomed", "node-x")
    await kube.request("POST", f"/api/v1/namespaces/{ns}/services", body={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "doomed"}, "spec": {"ports": [{"port": 80}]}})
    await eventually(base, lambda v: any('pod="doomed"' in k and f'namespace="{ns}"' in k for k in v)
                     and any('service="doomed"' in k for k in v))
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/doomed", params={"gracePeriodSeconds": "0"})
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/services/doomed")
    await eventually(base, lambda v: not any(f'namespace="{ns}"' in k for k in v))


async def compact_etcd(apiserver: Peer) -> None:
    """Compact etcd's history up to now, as its periodic compaction would, so old resource versions are gone."""
    etcd = apiserver.extra["etcd"]
    assert isinstance(etcd, Peer)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{etcd.url}/v3/kv/range", json={"key": "Lw=="}) as r:
            revision = int((await r.json())["header"]["revision"])
        async with s.post(f"{etcd.url}/v3/kv/compaction", json={"revision": revision, "physical": True}) as r:
            assert r.status == 200, await r.text()


async def test_relist_after_a_gap_loses_nothing(kube: KubeClient, kube_namespace: str, start_exporter: Start,
                                                kube_apiserver: Peer) -> None:
    """The exporter misses events while away, then relists (what it does after a 410; the 410 itself comes from
    the real server in tests/integration/kube/test_reflector.py, on a resource whose watch cache is young enough)."""
    ns = kube_namespace
    base, svc = await start_exporter(resources=["pods"])
    await make_pod(kube, ns, "stays", "node-x")
    await make_pod(kube, ns, "goes", "node-x")
    await eventually(base, lambda v: any('pod="goes"' in k for k in v) and any('pod="stays"' in k for k in v))
    pods = svc.reflectors["pods"]
    await pods.stop()  # the exporter is away: changes now happen without it watching
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/goes", params={"gracePeriodSeconds": "0"})
    await make_pod(kube, ns, "arrived", "node-x", restarts=7)
    await kube.request("PATCH", f"/api/v1/namespaces/{ns}/pods/stays/status", body=running_status(["app", "sidecar"], 2))
    await compact_etcd(kube_apiserver)
    pods.restart_watch(None)  # as after a 410: no usable resourceVersion, so LIST and diff against the cache
    pods.start()
    values = await eventually(base, lambda v: any('pod="arrived"' in k for k in v)
                              and not any('pod="goes"' in k for k in v))
    mine = {k: v for k, v in values.items() if f'namespace="{ns}"' in k}
    assert not any('pod="goes"' in k for k in mine)
    assert any('pod="arrived"' in k and 'container="app"' in k and "restarts_total" in k and v == 7
               for k, v in mine.items())
    assert any('pod="stays"' in k and 'container="app"' in k and "restarts_total" in k and v == 2
               for k, v in mine.items())
    # And the watch goes on after the relist.
    await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/stays", params={"gracePeriodSeconds": "0"})
    await eventually(base, lambda v: not any('pod="stays"' in k and f'namespace="{ns}"' in k for k in v))


async def test_label_allowlist(kube: KubeClient, kube_namespace: str, start_exporter: Start) -> None:
    ns = kube_namespace
    await make_pod(kube, ns, "labelled", "node-x", labels={"app": "shop", "team": "payments", "secret-ish": "no"})
    base, _ = await start_exporter(resources=["pods"], metric_labels_allowlist="pods=[app,team]")
    values = await eventually(base, lambda v: any('pod="labelled"' in k and k.startswith("kube_pod_labels") for k in v))
    line = next(k for k in values if k.startswith("kube_pod_labels") and 'pod="labelled"' in k)
    assert 'label_app="shop"' in line and 'label_team="payments"' in line and "secret" not in line
    plain, _ = await start_exporter(resources=["pods"])
    assert not any(k.startswith("kube_pod_labels") for k in await asyncio.to_thread(samples, await scrape(plain)))


async def test_two_shards_together_equal_one_unsharded(kube: KubeClient, kube_namespace: str,
                                                       start_exporter: Start) -> None:
    ns = kube_namespace
    for i in range(12):
        await make_pod(kube, ns, f"p{i}", "node-x", restarts=i)
    whole, _ = await start_exporter(resources=["pods"])
    shard0, _ = await start_exporter(resources=["pods"], shard=0, total_shards=2)
    shard1, _ = await start_exporter(resources=["pods"], shard=1, total_shards=2)

    def mine(v: dict[str, float]) -> dict[str, float]:
        return {k: x for k, x in v.items() if f'namespace="{ns}"' in k}

    all_series = mine(await eventually(whole, lambda v: sum('pod="p' in k and "kube_pod_info" in k
                                                            for k in mine(v)) == 12))
    raw1 = await asyncio.to_thread(samples, await scrape(shard1))
    a, b = mine(await asyncio.to_thread(samples, await scrape(shard0))), mine(raw1)
    assert a and b, "both shards own some pods"
    # kube-state-metrics' own series, as the mixin's KubeStateMetricsShards* and *Errors alerts read them.
    assert raw1['kube_state_metrics_shard_ordinal{shard_ordinal="1"}'] == 1
    assert raw1["kube_state_metrics_total_shards"] == 2
    assert raw1['kube_state_metrics_list_total{resource="*v1.Pod",result="success"}'] >= 1
    assert raw1['kube_state_metrics_watch_total{resource="*v1.Pod",result="success"}'] >= 1
    assert raw1['kube_state_metrics_list_total{resource="*v1.Pod",result="error"}'] == 0
    assert not set(a) & set(b)
    assert {**a, **b} == all_series


async def test_protobuf_lists_render_exactly_what_json_lists_render(kube: KubeClient, start_exporter: Start) -> None:
    """The real API server's pods, replicasets and deployments in protobuf (only the fields observe/kube/protobuf.py
    declares) and in JSON give the same series, value for value, on bench/cluster_objects.py's objects in every
    state, with labels and annotations."""
    from bench import cluster_objects

    prefix = f"pb-{uuid.uuid4().hex[:6]}"

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        await kube.request(method, path, body=body)

    await cluster_objects.seed(call, namespaces=2, nodes=4, deployments=2, pods=20, prefix=prefix)
    allow = {"metric_labels_allowlist": "*=[*]", "metric_annotations_allowlist": "*=[*]"}
    resources = ["pods", "replicasets", "deployments"]
    proto_base, proto = await start_exporter(resources=resources, **allow)
    json_base, plain = await start_exporter(resources=resources, list_encoding="json", **allow)
    for name in resources:
        assert proto.reflectors[name].pages["protobuf"] >= 1 and proto.reflectors[name].pages["json"] == 0
        assert plain.reflectors[name].pages["protobuf"] == 0 and plain.reflectors[name].pages["json"] >= 1

    def mine(raw: bytes) -> dict[str, float]:
        return {k: v for k, v in samples(raw).items() if f'namespace="{prefix}-' in k}

    from_proto = mine(await scrape(proto_base))
    from_json = mine(await scrape(json_base))
    assert len({k.split("{")[0] for k in from_json}) >= 25 and len(from_json) > 400
    assert from_proto == from_json


async def test_a_pod_that_fails_to_render_is_counted_and_every_other_pod_is_served(
        kube: KubeClient, kube_namespace: str, start_exporter: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    """A renderer bug on one real pod (simulated: the render raises for it) used to end the pods' list: the exporter
    never synced and no pod after it was ever served. Now that pod is left out and counted, in the list and in the
    watch, and every other pod is served."""
    original = ClusterService._transform

    def transform(self: ClusterService, kind: Any) -> Any:
        render = original(self, kind)

        def fragile(obj: Any) -> Any:
            if obj["metadata"]["name"] == "poison":
                raise ZeroDivisionError("a renderer bug")
            return render(obj)

        return fragile

    original_message = ClusterService._transform_message

    def transform_message(self: ClusterService, kind: Any) -> Any:  # the first LIST's protobuf items
        render = original_message(self, kind)

        def fragile(msg: Any) -> Any:
            if msg.metadata.name == "poison":
                raise ZeroDivisionError("a renderer bug")
            return render(msg)

        return fragile

    monkeypatch.setattr(ClusterService, "_transform", transform)
    monkeypatch.setattr(ClusterService, "_transform_message", transform_message)
    ns = kube_namespace
    for name in ("before", "poison"):
        await make_pod(kube, ns, name, "node-x")
    base, svc = await start_exporter(resources=["pods"])
    assert svc.readiness() == (True, "ok")
    await kube.request("PATCH", f"/api/v1/namespaces/{ns}/pods/poison", body={"metadata": {"labels": {"v": "2"}}})
    await make_pod(kube, ns, "after", "node-x")

    def pods(v: dict[str, float]) -> set[str]:
        return {name for name in ("before", "poison", "after")
                if any(k.startswith("kube_pod_info{") and f'pod="{name}"' in k and f'namespace="{ns}"' in k for k in v)}

    values = await eventually(base, lambda v: pods(v) == {"before", "after"}
                              and v.get('observe_exporter_object_errors_total{resource="pods"}', 0) >= 2)
    assert pods(values) == {"before", "after"}
