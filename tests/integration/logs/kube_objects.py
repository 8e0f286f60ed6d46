"""Playing the controllers against the real kube-apiserver: workloads, pods on a node, their status, their log files."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.integration.logs.shipper_process import ShipperProcess
from tests.peers.base import Peer
from tests.peers.kube import kube_request

TEMPLATE_LABELS = {"app": "web"}


def owner(kind: str, obj: dict[str, Any], api: str) -> dict[str, Any]:
    """A controller ownerReference to obj."""
    return {"apiVersion": api, "kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def pod_template(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "registry.local/web:1.2"}]}}


def deployment_with_replicaset(peer: Peer, ns: str, name: str, pod_hash: str) -> dict[str, Any]:
    """A Deployment and the ReplicaSet it would own (nothing reconciles here, so we write both)."""
    labels = {**TEMPLATE_LABELS, "pod-template-hash": pod_hash}
    dep = kube_request(peer, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": TEMPLATE_LABELS}, "template": pod_template(TEMPLATE_LABELS)}})
    return kube_request(peer, "POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{pod_hash}", "ownerReferences": [owner("Deployment", dep, "apps/v1")]},
        "spec": {"selector": {"matchLabels": labels}, "template": pod_template(labels)}})


def cronjob_with_job(peer: Peer, ns: str, name: str) -> dict[str, Any]:
    """A CronJob and one Job it would own."""
    container = {"name": "app", "image": "registry.local/batch:1"}
    job_tpl = {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}
    cron = kube_request(peer, "POST", f"/apis/batch/v1/namespaces/{ns}/cronjobs", {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job_tpl}}})
    return kube_request(peer, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"{name}-28777777", "ownerReferences": [owner("CronJob", cron, "batch/v1")]},
        "spec": job_tpl})


def create_pod(peer: Peer, ns: str, name: str, node: str, *, labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, owner_ref: dict[str, Any] | None = None,
               containers: list[dict[str, Any]] | None = None, volumes: list[dict[str, Any]] | None = None,
               running: bool = True) -> dict[str, Any]:
    """A pod bound to `node`; with `running`, its status says so, with a runtime container id per container."""
    meta: dict[str, Any] = {"name": name, "labels": labels or {}, "annotations": annotations or {}}
    if owner_ref:
        meta["ownerReferences"] = [owner_ref]
    spec: dict[str, Any] = {"nodeName": node, "containers": containers or [{"name": "app", "image": "registry.local/web:1.2"}]}
    if volumes:
        spec["volumes"] = volumes
    pod = kube_request(peer, "POST", f"/api/v1/namespaces/{ns}/pods",
                       {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    if running:
        statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "restartCount": 0,
                     "containerID": "containerd://" + secrets.token_hex(32), "started": True,
                     "state": {"running": {"startedAt": "2024-05-14T09:00:00Z"}}} for c in spec["containers"]]
        pod = kube_request(peer, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                           {"status": {"phase": "Running", "containerStatuses": statuses}})
    return pod


def container_id(pod: dict[str, Any], container: str) -> str:
    """The runtime id the status reports, without the containerd:// prefix."""
    for cs in pod["status"]["containerStatuses"]:
        if cs["name"] == container:
            return str(cs["containerID"]).split("://", 1)[1]
    raise KeyError(container)


def pod_log(root: Path, pod: dict[str, Any], container: str = "app") -> Path:
    """The kubelet's /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log under root."""
    m = pod["metadata"]
    folder = root / f"{m['namespace']}_{m['name']}_{m['uid']}" / container
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "0.log"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def kube_shipper(workdir: Path, es_url: str, apiserver: Peer | None, *, kubeconfig: str | None = None,
                 **logs: Any) -> tuple[ShipperProcess, str, Path]:
    """A shipper process watching this test's own node; returns it, the node name, and the pods log root."""
    node = f"node-{uuid.uuid4().hex[:8]}"
    pods_root = workdir / "var-log-pods"
    pods_root.mkdir(parents=True, exist_ok=True)
    sp = ShipperProcess(workdir, es_url, f"kube{uuid.uuid4().hex[:8]}", paths=[str(pods_root / "*" / "*" / "*.log")],
                        **logs)
    sp.config["kube"] = {"kubeconfig": kubeconfig or str(apiserver.extra["kubeconfig"] if apiserver else ""),
                         "node_name": node}
    sp.config["logs"].setdefault("kubernetes", {})["enabled"] = "on"
    sp.config_path.write_text(yaml.safe_dump(sp.config))
    return sp, node, pods_root
