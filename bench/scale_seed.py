"""Seed a real kube-apiserver with N pods and the objects they imply: bounded, resumable, with progress.

`python -m bench.scale_seed --kubeconfig PATH --pods 150000` creates, under one prefix (default `scale`):
- namespaces `<prefix>-<k>`, one per PODS_PER_NAMESPACE pods;
- nodes `<prefix>-node-<n>`, one per PODS_PER_NODE pods (150,000 pods: 5,000 nodes), statuses as the kubelet writes;
- one Deployment `d<j>` per PODS_PER_DEPLOYMENT pods, its ReplicaSet `d<j>-rs` owned by it (the Deployment's real
  UID), and the pods `d<j>-rs-<r>` owned by the ReplicaSet (its real UID), bound to nodes round-robin; every
  status patched as the controllers would write it (bench/cluster_objects.py's pod mix: 60 % Running, 10 % each
  crash-looping, Pending, Succeeded, Failed).

Bounded: at most `concurrency` requests in flight; 429/5xx and connection errors are retried with backoff.
Resumable: it first lists (paged) what already exists under the prefix's label and skips every object that exists
with its status written; an object created but left without status by an interrupted run only gets its status.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.cluster_objects import ANNOTATIONS, T0, pod_status
from observe.kube.client import KubeApiError, KubeClient, KubeConfigError

PODS_PER_DEPLOYMENT = 10
PODS_PER_NODE = 30
PODS_PER_NAMESPACE = 1_000
SEED_LABEL = "observe.dev/seed"
RETRIES = 6


@dataclass(frozen=True)
class Shape:
    """How many of each object N pods imply."""

    pods: int
    prefix: str = "scale"

    @property
    def deployments(self) -> int:
        return math.ceil(self.pods / PODS_PER_DEPLOYMENT)

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.pods / PODS_PER_NODE))

    @property
    def namespaces(self) -> int:
        return max(1, math.ceil(self.pods / PODS_PER_NAMESPACE))

    def namespace_of(self, deployment: int) -> str:
        return f"{self.prefix}-{deployment * PODS_PER_DEPLOYMENT // PODS_PER_NAMESPACE}"

    def counts(self) -> dict[str, int]:
        return {"namespaces": self.namespaces, "nodes": self.nodes, "deployments": self.deployments,
                "replicasets": self.deployments, "pods": self.pods}


def _meta(shape: Shape, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": {"app": name, SEED_LABEL: shape.prefix}, "annotations": ANNOTATIONS, **extra}


def _node_status(i: int) -> dict[str, Any]:
    ready = "True" if i % 50 else "False"
    return {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": T0,
                            "lastTransitionTime": T0}],
            "nodeInfo": {"kubeletVersion": "v1.37.2", "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12",
                         "machineID": f"m{i}", "systemUUID": f"s{i}", "bootID": f"b{i}",
                         "containerRuntimeVersion": "containerd://2.0.0", "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": "amd64"},
            "addresses": [{"type": "InternalIP", "address": f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"}]}


def _template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
        "name": "app", "image": "registry.local/app:1",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}}]}}


class Seeder:
    """Creates what is missing with at most `concurrency` requests in flight; counts created, skipped and patched."""

    def __init__(self, client: KubeClient, shape: Shape, *, concurrency: int = 16,
                 progress: Callable[[str, int], None] | None = None) -> None:
        self.client, self.shape = client, shape
        self.sem = asyncio.Semaphore(concurrency)
        self.progress = progress or (lambda kind, n: None)
        self.stats: dict[str, dict[str, int]] = {}

    def _count(self, kind: str, what: str) -> None:
        self.stats.setdefault(kind, {"created": 0, "skipped": 0, "status_only": 0})[what] += 1
        self.progress(kind, 1)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> Any:
        async with self.sem:
            for attempt in range(RETRIES):
                try:
                    return await self.client.request(method, path, body=body, params=params, seconds=120)
                except KubeApiError as exc:
                    if (exc.status != 429 and exc.status < 500) or attempt == RETRIES - 1:
                        raise
                except (aiohttp.ClientError, TimeoutError):
                    if attempt == RETRIES - 1:
                        raise
                await asyncio.sleep(0.25 * 2 ** attempt)
        raise AssertionError("unreachable")

    async def existing(self, path: str) -> dict[str, dict[str, Any]]:
        """`namespace/name` -> {uid, has_status} of every object of this prefix at `path`, listed in pages of 500."""
        out: dict[str, dict[str, Any]] = {}
        params = {"labelSelector": f"{SEED_LABEL}={self.shape.prefix}", "limit": "500"}
        while True:
            page = await self.call("GET", path, params=params)
            for item in page.get("items") or []:
                meta, status = item["metadata"], item.get("status") or {}
                done = bool(status.get("conditions") or status.get("observedGeneration") or
                            status.get("containerStatuses") or status.get("phase") == "Active")
                out[f"{meta.get('namespace', '')}/{meta['name']}"] = {"uid": meta["uid"], "has_status": done}
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return out
            params = {**params, "continue": token}

    async def _ensure(self, kind: str, have: dict[str, dict[str, Any]], key: str, create: str,
                      body: dict[str, Any], status: dict[str, Any] | None) -> str:
        """Create the object unless it exists, then patch its status unless it has one; returns its UID."""
        found = have.get(key)
        name = body["metadata"]["name"]
        if found is None:
            try:
                uid = str((await self.call("POST", create, body))["metadata"]["uid"])
            except KubeApiError as exc:  # created by a concurrent run since we listed: take its UID
                if exc.status != 409:
                    raise
                uid = str((await self.call("GET", f"{create}/{name}"))["metadata"]["uid"])
            found = {"uid": uid, "has_status": status is None}
            self._count(kind, "created")
        else:
            self._count(kind, "skipped" if found["has_status"] or status is None else "status_only")
        if status is not None and not found["has_status"]:
            await self.call("PATCH", f"{create}/{name}/status", {"status": status})
        return str(found["uid"])

    async def run(self) -> dict[str, dict[str, int]]:
        s = self.shape
        have_ns = await self.existing("/api/v1/namespaces")
        await _gather(self._ensure("namespaces", have_ns, f"/{s.prefix}-{k}", "/api/v1/namespaces",
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(s, f"{s.prefix}-{k}")},
                                   None) for k in range(s.namespaces))
        have_nodes = await self.existing("/api/v1/nodes")
        await _gather(self._ensure("nodes", have_nodes, f"/{s.prefix}-node-{n}", "/api/v1/nodes",
                                   {"apiVersion": "v1", "kind": "Node", "metadata": _meta(s, f"{s.prefix}-node-{n}")},
                                   _node_status(n)) for n in range(s.nodes))
        have_deploy = await self.existing("/apis/apps/v1/deployments")
        have_rs = await self.existing("/apis/apps/v1/replicasets")
        have_pods = await self.existing("/api/v1/pods")
        # One deployment after another within a task (its RS needs its UID, its pods the RS's), tasks bounded by
        # the semaphore; a generator keeps 150,000 pods from being coroutines at once.
        await _gather(self._deployment(j, have_deploy, have_rs, have_pods) for j in range(s.deployments))
        return self.stats

    async def _deployment(self, j: int, have_deploy: dict[str, dict[str, Any]], have_rs: dict[str, dict[str, Any]],
                          have_pods: dict[str, dict[str, Any]]) -> None:
        s, ns, name = self.shape, self.shape.namespace_of(j), f"d{j}"
        first = j * PODS_PER_DEPLOYMENT
        replicas = min(PODS_PER_DEPLOYMENT, s.pods - first)
        ready = sum(1 for i in range(first, first + replicas) if i % 10 not in (1, 2, 3, 4))
        apps = f"/apis/apps/v1/namespaces/{ns}"
        spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": _template(name)}
        uid = await self._ensure("deployments", have_deploy, f"{ns}/{name}", f"{apps}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(s, name), "spec": spec}, {
            "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": replicas - ready, "observedGeneration": 1, "conditions": [
                {"type": "Available", "status": "True" if ready == replicas else "False",
                 "reason": "MinimumReplicasAvailable" if ready == replicas else "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
        rs = f"{name}-rs"
        rs_uid = await self._ensure("replicasets", have_rs, f"{ns}/{rs}", f"{apps}/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": spec, "metadata": _meta(s, rs, ownerReferences=[
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": True}])}, {
            "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
            "observedGeneration": 1})
        owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs_uid, "controller": True}]
        await _gather(self._ensure("pods", have_pods, f"{ns}/{rs}-{r}", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{rs}-{r}", "labels": {"app": name, SEED_LABEL: s.prefix}, "ownerReferences": owner},
            "spec": {"nodeName": f"{s.prefix}-node-{(first + r) % s.nodes}", "containers": _template(name)["spec"][
                "containers"]}}, pod_status(first + r)) for r in range(replicas))


async def delete(client: KubeClient, shape: Shape) -> None:
    """Delete what `shape` seeded (one deletecollection per kind and namespace, no grace period): pods,
    replicasets, deployments, nodes, then the namespaces (which stay Terminating where no namespace controller runs)."""
    params = {"labelSelector": f"{SEED_LABEL}={shape.prefix}", "gracePeriodSeconds": "0"}
    for k in range(shape.namespaces):
        ns = f"{shape.prefix}-{k}"
        for path in (f"/api/v1/namespaces/{ns}/pods", f"/apis/apps/v1/namespaces/{ns}/replicasets",
                     f"/apis/apps/v1/namespaces/{ns}/deployments"):
            await client.request("DELETE", path, params=params, seconds=300)
    await client.request("DELETE", "/api/v1/nodes", params=params, seconds=300)
    for k in range(shape.namespaces):
        try:
            await client.request("DELETE", f"/api/v1/namespaces/{shape.prefix}-{k}")
        except KubeApiError as exc:
            if exc.status != 404:
                raise


async def _gather(coros: Iterable[Awaitable[Any]], width: int = 64) -> None:
    """Await every coroutine, at most `width` at a time (the HTTP bound is the Seeder's semaphore)."""
    it = iter(coros)
    pending: set[asyncio.Future[Any]] = set()
    while True:
        while len(pending) < width:
            coro = next(it, None)
            if coro is None:
                break
            pending.add(asyncio.ensure_future(coro))
        if not pending:
            return
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for f in done:
            f.result()


async def seed(client: KubeClient, shape: Shape, *, concurrency: int = 16, show_progress: bool = True) -> dict[str, Any]:
    """Seed `shape` with a rich progress bar per kind (on stderr); returns counts, stats and seconds."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.monotonic()
    with Progress(TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not show_progress, transient=False) as bar:
        tasks = {kind: bar.add_task(kind, total=n) for kind, n in shape.counts().items()}
        seeder = Seeder(client, shape, concurrency=concurrency, progress=lambda k, n: bar.advance(tasks[k], n))
        stats = await seeder.run()
    return {"objects": shape.counts(), "stats": stats, "seconds": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    from observe.config import KubeConfig

    p = argparse.ArgumentParser(prog="python -m bench.scale_seed", description=__doc__.split("\n", 1)[0])
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--pods", type=int, required=True)
    p.add_argument("--prefix", default="scale")
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args(argv)
    if args.pods < 1 or args.concurrency < 1:
        p.error(f"--pods and --concurrency: expected positive integers, got {args.pods} and {args.concurrency}")

    async def go() -> dict[str, Any]:
        client = await KubeClient.from_config(KubeConfig(kubeconfig=args.kubeconfig))  # type: ignore[call-arg]
        try:
            return await seed(client, Shape(args.pods, args.prefix), concurrency=args.concurrency)
        finally:
            await client.close()

    try:
        result = asyncio.run(go())
    except KubeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KubeApiError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"seeding failed (run again to resume): {exc}", file=sys.stderr)
        return 1
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
