"""Seed the real kube-apiserver with one of every object the dashboards show, in states that make every panel non-empty."""

from __future__ import annotations

from typing import Any

from tests.peers.base import Peer
from tests.peers.kube import kube_request

STRATEGIC = "application/strategic-merge-patch+json"


def _container(name: str) -> dict[str, Any]:
    return {"name": name, "image": f"registry.test/{name}:1",
            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}


def _status(kube: Peer, path: str, status: dict[str, Any]) -> None:
    kube_request(kube, "PATCH", f"{path}/status", {"status": status})


def make_pod(kube: Peer, ns: str, name: str, node: str, owner: dict[str, Any] | None, *, restarts: int = 0,
             waiting: str | None = None) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": {"app": name.split("-")[0]}}
    if owner:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/pods",
                 {"metadata": meta, "spec": {"nodeName": node, "containers": [_container("app")]}})
    set_pod_state(kube, ns, name, restarts=restarts, waiting=waiting)


def set_pod_state(kube: Peer, ns: str, name: str, *, restarts: int = 0, waiting: str | None = None) -> None:
    """Running and ready, or waiting with a reason (CrashLoopBackOff after an Error exit), with a restart count."""
    state: dict[str, Any] = {"running": {"startedAt": "2024-05-01T12:00:00Z"}}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": "back-off restarting failed container"}}
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False" if waiting else "True"},
                       {"type": "PodScheduled", "status": "True"}],
        "startTime": "2024-05-01T12:00:00Z",
        "containerStatuses": [{
            "name": "app", "image": "registry.test/app:1", "imageID": "registry.test/app@sha256:" + "0" * 64,
            "containerID": "containerd://" + "a" * 64, "ready": not waiting, "restartCount": restarts, "started": not waiting,
            "state": state,
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": "2024-05-01T12:00:00Z",
                                         "finishedAt": "2024-05-01T12:00:05Z"}} if restarts else {},
        }],
    }
    _status(kube, f"/api/v1/namespaces/{ns}/pods/{name}", status)


def seed(kube: Peer, ns: str) -> dict[str, str]:
    """Create a node and one of every workload kind in namespace `ns`; return the names tests refer to."""
    node = f"node-{ns}"
    kube_request(kube, "POST", "/api/v1/nodes", {"metadata": {"name": node, "labels": {"kubernetes.io/os": "linux"}}})
    _status(kube, f"/api/v1/nodes/{node}", {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"},
                       {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"}],
        "nodeInfo": {"kubeletVersion": "v1.37.2", "containerRuntimeVersion": "containerd://2.0.0", "kernelVersion": "6.1",
                     "osImage": "Debian", "operatingSystem": "linux", "architecture": "amd64", "machineID": "m",
                     "systemUUID": "s", "bootID": "b", "kubeProxyVersion": ""},
    })
    # A node whose kubelet stopped answering: the node controller's taint and Ready=Unknown (KubeNodeUnreachable).
    gone = f"node-{ns}-gone"
    kube_request(kube, "POST", "/api/v1/nodes", {"metadata": {"name": gone}, "spec": {"taints": [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2024-05-01T12:00:00Z"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-05-01T12:00:00Z"}]}})
    _status(kube, f"/api/v1/nodes/{gone}", {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]})
    apps = f"/apis/apps/v1/namespaces/{ns}"
    selector = {"matchLabels": {"app": "web"}}
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [_container("app")]}}
    dep = kube_request(kube, "POST", f"{apps}/deployments",
                       {"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": selector, "template": template}})
    # A rollout past its progress deadline (KubeDeploymentRolloutStuck).
    _status(kube, f"{apps}/deployments/web", {
        "replicas": 2, "availableReplicas": 1, "updatedReplicas": 2, "readyReplicas": 1, "unavailableReplicas": 2,
        "observedGeneration": 1, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    rs = kube_request(kube, "POST", f"{apps}/replicasets", {
        "metadata": {"name": "web-5d9c", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": dep["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": 3, "selector": selector, "template": template}})
    rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c", "uid": rs["metadata"]["uid"]}
    make_pod(kube, ns, "web-5d9c-a", node, rs_owner)
    make_pod(kube, ns, "web-5d9c-crash", node, rs_owner, restarts=3, waiting="CrashLoopBackOff")

    sts = kube_request(kube, "POST", f"{apps}/statefulsets", {"metadata": {"name": "db"}, "spec": {
        "replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [_container("app")]}}}})
    _status(kube, f"{apps}/statefulsets/db", {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 1,
                                              "currentRevision": "db-1", "updateRevision": "db-2", "observedGeneration": 1})
    make_pod(kube, ns, "db-0", node,
             {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": sts["metadata"]["uid"]})

    ds = kube_request(kube, "POST", f"{apps}/daemonsets", {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [_container("app")]}}}})
    _status(kube, f"{apps}/daemonsets/agent", {"desiredNumberScheduled": 2, "currentNumberScheduled": 1,
                                               "numberMisscheduled": 0, "numberReady": 1, "numberAvailable": 1,
                                               "updatedNumberScheduled": 1})
    make_pod(kube, ns, "agent-x", node,
             {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": ds["metadata"]["uid"]})

    batch = f"/apis/batch/v1/namespaces/{ns}"
    job_template = {"spec": {"restartPolicy": "Never", "containers": [_container("app")]}}
    job = kube_request(kube, "POST", f"{batch}/jobs", {"metadata": {"name": "report"}, "spec": {"template": job_template}})
    _status(kube, f"{batch}/jobs/report", {"active": 1, "failed": 1, "succeeded": 0, "startTime": "2024-05-01T12:00:00Z"})
    make_pod(kube, ns, "report-q", node,
             {"apiVersion": "batch/v1", "kind": "Job", "name": "report", "uid": job["metadata"]["uid"]})
    kube_request(kube, "POST", f"{batch}/cronjobs", {"metadata": {"name": "nightly"}, "spec": {
        "schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": job_template}}}})
    _status(kube, f"{batch}/cronjobs/nightly", {"lastScheduleTime": "2024-05-01T03:00:00Z"})

    kube_request(kube, "POST", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", {
        "metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                              "minReplicas": 1, "maxReplicas": 3}})
    _status(kube, f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web",
            {"currentReplicas": 2, "desiredReplicas": 3})
    kube_request(kube, "POST", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", {
        "metadata": {"name": "web"}, "spec": {"minAvailable": 2, "selector": selector}})
    _status(kube, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/web", {
        "currentHealthy": 1, "desiredHealthy": 2, "expectedPods": 3, "disruptionsAllowed": 0, "observedGeneration": 1})
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/resourcequotas", {
        "metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "pods": "10"}}})
    _status(kube, f"/api/v1/namespaces/{ns}/resourcequotas/compute", {
        "hard": {"requests.cpu": "2", "requests.memory": "4Gi", "pods": "10"},
        "used": {"requests.cpu": "1250m", "requests.memory": "320Mi", "pods": "5"}})
    kube_request(kube, "POST", "/api/v1/persistentvolumes", {"metadata": {"name": f"pv-{ns}"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}}})
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeName": f"pv-{ns}"}})
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    return {"node": node, "unreachable_node": gone, "crash_pod": "web-5d9c-crash", "workload": "web", "job": "report"}
