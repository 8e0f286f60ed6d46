"""Objects of every resource the cluster exporter supports, with statuses, for the benchmark's real kube-apiserver.

No controllers run next to the bench's API server, so statuses are patched in as the controllers would write them.
The bulk (pods, deployments with their replicasets, nodes) sets the scale; every namespace also gets one object of
each other kind in several states, so that every family has series to compare with kube-state-metrics:
pods Running, crash-looping (waiting, last terminated), Pending (waiting), Succeeded and Failed (terminated);
nodes Ready, NotReady and Unknown, with pressure conditions, taints and cordons; jobs running, complete and failed;
HPAs, PDBs, PVCs and PVs (Bound, Pending, Released), quotas with hard and used, CronJobs, services of every type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, str, dict[str, Any]], Awaitable[None]]
T0 = "2024-05-01T10:00:00Z"
ANNOTATIONS = {"team": "checkout", "observe.dev/bench": "true"}


def pod_status(i: int, restarts: int = 0) -> dict[str, Any]:
    """Pod i's status: 60 % Running and ready, and 10 % each crash-looping, Pending, Succeeded and Failed (half of
    those with a status reason: Evicted or OutOfcpu)."""
    kind = i % 10
    base = {"hostIP": "10.0.0.1", "podIP": f"10.1.{i // 250 % 250}.{i % 250}", "startTime": T0}
    def cstatus(state: dict[str, Any], ready: bool, last: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{"name": "app", "ready": ready, "restartCount": restarts, "image": "registry.local/app:1",
                 "imageID": "sha256:app", "containerID": "containerd://app", "state": state,
                 "lastState": last or {}}]
    def conditions(ready: str, scheduled: str = "True") -> list[dict[str, Any]]:
        return [{"type": "Ready", "status": ready, "lastTransitionTime": T0},
                {"type": "PodScheduled", "status": scheduled, "lastTransitionTime": T0}]
    if kind == 1:  # crash-looping: waiting, last terminated with an error
        return {**base, "phase": "Running", "conditions": conditions("False"), "containerStatuses": cstatus(
            {"waiting": {"reason": "CrashLoopBackOff"}}, False,
            {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": T0, "finishedAt": T0}})}
    if kind == 2:  # Pending: scheduled, image still being pulled
        return {**base, "phase": "Pending", "conditions": conditions("False"),
                "containerStatuses": cstatus({"waiting": {"reason": "ContainerCreating"}}, False)}
    if kind == 3:
        return {**base, "phase": "Succeeded", "conditions": conditions("False"), "containerStatuses": cstatus(
            {"terminated": {"reason": "Completed", "exitCode": 0, "startedAt": T0, "finishedAt": T0}}, False)}
    if kind == 4:  # Failed: every other one evicted by the kubelet or refused at admission (kube_pod_status_reason)
        reason = {4: {"reason": "Evicted", "message": "The node was low on resource: memory."},
                  14: {"reason": "OutOfcpu", "message": "Node didn't have enough resource: cpu"}}.get(i % 20, {})
        return {**base, **reason, "phase": "Failed", "conditions": conditions("False"), "containerStatuses": cstatus(
            {"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": T0, "finishedAt": T0}}, False)}
    return {**base, "phase": "Running", "conditions": conditions("True"),
            "containerStatuses": cstatus({"running": {"startedAt": T0}}, True)}


def _node_status(i: int) -> dict[str, Any]:
    ready = ("True", "False", "Unknown")[0 if i % 10 else (i // 10) % 3]
    return {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110", "ephemeral-storage": "90Gi"},
            "conditions": [
                {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": T0,
                 "lastTransitionTime": T0},
                {"type": "MemoryPressure", "status": "True" if i % 25 == 3 else "False", "lastHeartbeatTime": T0,
                 "lastTransitionTime": T0},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": T0, "lastTransitionTime": T0}],
            "nodeInfo": {"kubeletVersion": "v1.37.2", "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12",
                         "machineID": f"m{i}", "systemUUID": f"s{i}", "bootID": f"b{i}",
                         "containerRuntimeVersion": "containerd://2.0.0", "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": "amd64"},
            "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250 + 1}"}]}


def _container(name: str) -> dict[str, Any]:
    return {"name": name, "image": f"registry.local/{name}:1",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}}


def _template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [_container("app")]}}


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": {"app": name, "tier": "backend"}, "annotations": ANNOTATIONS, **extra}


async def seed(call: Call, *, namespaces: int, nodes: int, deployments: int, pods: int,
               prefix: str = "bench") -> dict[str, int]:
    """Create everything (namespaces `<prefix>-<i>`, nodes `<prefix>-node-<i>`); returns the count per resource."""
    ns_names = [f"{prefix}-{i}" for i in range(namespaces)]
    await asyncio.gather(*(call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                 "metadata": _meta(n)}) for n in ns_names))

    async def node(i: int) -> None:
        spec: dict[str, Any] = {}
        if i % 20 == 5:
            spec = {"unschedulable": True, "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}
        elif i % 20 == 7:
            spec = {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}
        meta = _meta(f"{prefix}-node-{i}")
        if i % 10 == 0:  # control-plane nodes carry their role as a label (kube_node_role)
            meta["labels"] = {**meta["labels"], "node-role.kubernetes.io/control-plane": ""}
        await call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "spec": spec, "metadata": meta})
        await call("PATCH", f"/api/v1/nodes/{prefix}-node-{i}/status", {"status": _node_status(i)})

    await asyncio.gather(*(node(i) for i in range(nodes)))

    async def deployment(i: int) -> None:
        ns, name = ns_names[i % namespaces], f"d{i}"
        apps = f"/apis/apps/v1/namespaces/{ns}"
        await call("POST", f"{apps}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name),
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": name}}, "template": _template(name)}})
        available = 10 if i % 10 else 7
        await call("PATCH", f"{apps}/deployments/{name}/status", {"status": {
            "replicas": 10, "updatedReplicas": 10, "readyReplicas": available, "availableReplicas": available,
            "unavailableReplicas": 10 - available, "observedGeneration": 1, "conditions": [
                {"type": "Available", "status": "True" if available == 10 else "False",
                 "reason": "MinimumReplicasAvailable" if available == 10 else "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}})
        await call("POST", f"{apps}/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": _meta(f"{name}-rs", ownerReferences=[{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "controller": True,
                "uid": f"00000000-0000-0000-0000-{i:012d}"}]),
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": name}}, "template": _template(name)}})

    await asyncio.gather(*(deployment(i) for i in range(deployments)))

    async def pod(i: int) -> None:
        ns, name = ns_names[i % namespaces], f"p{i}"
        meta: dict[str, Any] = {"name": name, "labels": {"app": f"d{i % deployments}"}}
        if i % 50 == 0:  # some pods with more labels and annotations
            meta = {**_meta(name), "labels": {"app": f"d{i % deployments}", "tier": "backend"}}
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"d{i % deployments}-rs",
                                    "uid": f"00000000-0000-0000-0000-{i % deployments:012d}", "controller": True}]
        await call("POST", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": f"{prefix}-node-{i % nodes}", "containers": [_container("app")]}})
        await call("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": pod_status(i)})

    await asyncio.gather(*(pod(i) for i in range(pods)))
    await asyncio.gather(*(_others(call, ns, k) for k, ns in enumerate(ns_names)))
    per_ns = {"statefulsets": 1, "daemonsets": 1, "jobs": 3, "cronjobs": 1, "horizontalpodautoscalers": 1,
              "poddisruptionbudgets": 1, "persistentvolumeclaims": 2, "persistentvolumes": 2, "resourcequotas": 1,
              "services": 3}
    return {"namespaces": namespaces, "nodes": nodes, "deployments": deployments, "replicasets": deployments,
            "pods": pods, **{k: v * namespaces for k, v in per_ns.items()}}


async def _others(call: Call, ns: str, k: int) -> None:
    """One or a few objects of every other kind in namespace `ns` (the k-th), each with a status."""
    apps, batch = f"/apis/apps/v1/namespaces/{ns}", f"/apis/batch/v1/namespaces/{ns}"
    await call("POST", f"{apps}/statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta("db"),
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": _template("db")}})
    await call("PATCH", f"{apps}/statefulsets/db/status", {"status": {
        "replicas": 3, "readyReplicas": 2, "updatedReplicas": 1, "currentReplicas": 2, "availableReplicas": 2,
        "currentRevision": "db-6d4f", "updateRevision": "db-7c9a", "observedGeneration": 1}})
    await call("POST", f"{apps}/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta("agent"),
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": _template("agent")}})
    await call("PATCH", f"{apps}/daemonsets/agent/status", {"status": {
        "desiredNumberScheduled": 100, "currentNumberScheduled": 99, "numberMisscheduled": 1, "numberReady": 97,
        "numberAvailable": 97, "updatedNumberScheduled": 98, "numberUnavailable": 3, "observedGeneration": 1}})
    job = {"restartPolicy": "Never", "containers": [_container("job")]}
    for name, completions in (("migrate", 3), ("report", 1), ("broken", 1)):
        await call("POST", f"{batch}/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name),
                                              "spec": {"completions": completions, "backoffLimit": 2,
                                                       "template": {"spec": job}}})
    await call("PATCH", f"{batch}/jobs/migrate/status", {"status": {"startTime": T0, "active": 1, "succeeded": 2,
                                                                      "failed": 1, "ready": 1}})
    await call("PATCH", f"{batch}/jobs/report/status", {"status": {
        "startTime": T0, "completionTime": "2024-05-01T10:05:00Z", "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": T0},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": T0}]}})
    await call("PATCH", f"{batch}/jobs/broken/status", {"status": {
        "startTime": T0, "failed": 3, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": T0},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": T0}]}})
    await call("POST", f"{batch}/cronjobs", {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta("nightly"),
        "spec": {"schedule": f"{k % 60} 2 * * *", "concurrencyPolicy": "Forbid", "timeZone": "Europe/Berlin",
                 "jobTemplate": {"spec": {"template": {"spec": job}}}}})
    await call("PATCH", f"{batch}/cronjobs/nightly/status", {"status": {
        "lastScheduleTime": f"2024-05-01T00:{k % 60:02d}:00Z", "lastSuccessfulTime": f"2024-05-01T00:{k % 60:02d}:30Z"}})
    hpa = f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"
    await call("POST", hpa, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta("web"),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"d{k}"},
                 "minReplicas": 2, "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}})
    await call("PATCH", f"{hpa}/web/status", {"status": {"currentReplicas": 10, "desiredReplicas": 10 if k % 2 else 8}})
    pdb = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    await call("POST", pdb, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta("web"),
                             "spec": {"minAvailable": 8, "selector": {"matchLabels": {"app": f"d{k}"}}}})
    await call("PATCH", f"{pdb}/web/status", {"status": {
        "currentHealthy": 7 if k % 3 == 0 else 9, "desiredHealthy": 8, "expectedPods": 10, "disruptionsAllowed": 0,
        "observedGeneration": 1}})
    for name, phase, size in ((f"pv-{ns}-a", "Bound", "5Gi"), (f"pv-{ns}-b", "Released", "1500Mi")):
        await call("POST", "/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": _meta(name),
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/{name}"}}})
        await call("PATCH", f"/api/v1/persistentvolumes/{name}/status", {"status": {"phase": phase}})
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    await call("POST", claims, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"),
                                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                                         "volumeName": f"pv-{ns}-a", "resources": {"requests": {"storage": "5Gi"}}}})
    await call("PATCH", f"{claims}/data/status", {"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                                             "capacity": {"storage": "5Gi"}}})
    await call("POST", claims, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("scratch"),
                                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1G"}}}})
    quotas = f"/api/v1/namespaces/{ns}/resourcequotas"
    hard = {"requests.cpu": "40", "requests.memory": "64Gi", "limits.memory": "128Gi", "pods": "600",
            "count/jobs.batch": "10"}
    await call("POST", quotas, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta("compute"),
                                "spec": {"hard": hard}})
    await call("PATCH", f"{quotas}/compute/status", {"status": {"hard": hard, "used": {
        "requests.cpu": "50100m", "requests.memory": "32Gi", "limits.memory": "64Gi", "pods": "500",
        "count/jobs.batch": "3"}}})
    services = f"/api/v1/namespaces/{ns}/services"
    await call("POST", services, {"apiVersion": "v1", "kind": "Service", "metadata": _meta("web"),
                                  "spec": {"selector": {"app": f"d{k}"}, "ports": [{"port": 80}]}})
    await call("POST", services, {"apiVersion": "v1", "kind": "Service", "metadata": _meta("db"),
                                  "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}})
    await call("POST", services, {"apiVersion": "v1", "kind": "Service", "metadata": _meta("external"),
                                  "spec": {"type": "ExternalName", "externalName": "db.example.invalid"}})
