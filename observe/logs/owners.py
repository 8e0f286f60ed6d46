"""The workload that owns a pod: through its ReplicaSet to the Deployment, through its Job to the CronJob."""

from __future__ import annotations

from typing import Any

import aiohttp

from observe.kube.client import KubeApiError, KubeClient
from observe.kube.reflector import Resource
from observe.logs.pod_meta import PodMeta

JOBS = Resource("batch", "v1", "jobs")
REPLICASETS = Resource("apps", "v1", "replicasets")
MAX_CACHED = 50_000


class Owners:
    """Controllers of ReplicaSets and Jobs, one GET per new object, cached."""

    def __init__(self) -> None:
        self.client: KubeClient | None = None
        self.cache: dict[tuple[str, str, str], tuple[str, str] | None] = {}

    async def owner_of(self, namespace: str, kind: str, name: str) -> tuple[str, str] | None:
        """The controller of a ReplicaSet or a Job (cached; one GET per new object)."""
        key = (namespace, kind, name)
        if key in self.cache:
            return self.cache[key]
        if self.client is None:
            return None
        resource = REPLICASETS if kind == "ReplicaSet" else JOBS
        try:
            obj = await self.client.request("GET", f"{resource.path(namespace)}/{name}", seconds=5)
        except KubeApiError as exc:
            owner = None
            if exc.status != 404:
                return None  # try again next time
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        else:
            refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
            owner = next(((o.get("kind", ""), o.get("name", "")) for o in refs if o.get("controller")), None)
        if len(self.cache) > MAX_CACHED:
            self.cache.clear()
        self.cache[key] = owner
        return owner

    async def workload(self, pod: PodMeta) -> dict[str, Any]:
        """ECS kubernetes.<kind>.name fields of the pod's owners (the ReplicaSet's name gives the Deployment when unreadable)."""
        if pod.owner is None:
            return {}
        kind, name = pod.owner
        out: dict[str, Any] = {}
        if kind in ("ReplicaSet", "Job"):
            out[kind.lower()] = {"name": name}
            parent = await self.owner_of(pod.namespace, kind, name)
            if parent is None and kind == "ReplicaSet" and "pod-template-hash" in pod.labels:
                # The ReplicaSet is unreadable: its name is the Deployment's plus the pod-template-hash.
                suffix = "-" + pod.labels["pod-template-hash"]
                if name.endswith(suffix):
                    parent = ("Deployment", name[: -len(suffix)])
            if parent is not None and parent[0] in ("Deployment", "CronJob"):
                out[parent[0].lower()] = {"name": parent[1]}
        elif kind in ("StatefulSet", "DaemonSet"):
            out[kind.lower()] = {"name": name}
        return out
