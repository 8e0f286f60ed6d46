"""Pod metadata for log events, from the Kubernetes API through observe/kube watch caches.

The shipper's MetadataProvider: when a file opens, its path-derived plan (namespace, pod, container)
becomes the full one: pod uid, node, dedotted labels and namespace labels, the owning workload (through the
ReplicaSet to its Deployment, through the Job to its CronJob), container image and id, and the pod's log plan
from its annotations (exclusion, data stream, tags, parser, multiline). A file's binding follows its pod: a
changed annotation re-plans open files without a restart. A deleted pod stays resolvable for a grace period
so its last lines are still enriched. When the API is unreachable, files ship with path-derived metadata and
observe_shipper_kube_api_up / readiness say so.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry

from observe.kube.client import KubeClient
from observe.kube.reflector import NAMESPACES, PODS, Reflector
from observe.logs.annotations import Plan, Stream, build_plan
from observe.logs.metrics import EnrichMetrics
from observe.logs.owners import Owners
from observe.logs.plan import DataStreams, PlanSlot
from observe.logs.pod_fields import Binding, file_fields, stream_settings
from observe.logs.pod_meta import PodMeta, namespace_labels, pod_meta

log = logging.getLogger("observe.logs.enrich")

_EMPTY_DIR = re.compile(r"/pods/(?P<uid>[0-9a-fA-F-]{36})/volumes/kubernetes\.io~empty-dir/")
WORKLOADS = ("deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob")
MAX_UNRESOLVED = 10_000
# A file this recent may belong to a pod whose watch event is still on its way; older ones do not wait.
YOUNG_FILE_SECONDS = 30.0


class KubeEnricher:
    """The shipper's MetadataProvider backed by watch caches of this node's pods and of namespaces."""

    def __init__(
        self,
        client_factory: Callable[[], Awaitable[KubeClient]] | None,
        registry: CollectorRegistry,
        *,
        node_name: str | None,
        kubelet_root: str = "/var/lib/kubelet",
        deleted_grace_seconds: float = 300.0,
        resolve_wait_seconds: float = 2.0,
        default_multiline: str = "none",
        default_parser: str = "none",
        streams: DataStreams | None = None,
    ) -> None:
        self.client_factory = client_factory
        self.client: KubeClient | None = None
        self.node_name = node_name
        self.kubelet_root = kubelet_root.rstrip("/") or "/"
        self.grace = deleted_grace_seconds
        self.resolve_wait = resolve_wait_seconds
        self.default_multiline = default_multiline
        self.default_parser = default_parser
        self.streams = streams
        self.metrics = EnrichMetrics(registry, object_errors=lambda: {
            r.name: r.object_errors for r in (self.pods, self.namespaces) if r is not None})
        self.metrics.api_up.set_function(lambda: 1.0 if self.api_up() else 0.0)
        self.pods: Reflector[PodMeta] | None = None
        self.namespaces: Reflector[dict[str, str]] | None = None
        self.by_uid: dict[str, PodMeta] = {}
        self.deleted: dict[str, PodMeta] = {}  # uid -> pod deleted a moment ago
        self.plans: dict[str, Plan] = {}
        self.owners = Owners()
        self.bindings: dict[str, list[Binding]] = {}  # pod uid -> open files
        self.unresolved: dict[str, list[Binding]] = {}  # "ns/name" -> files opened before their pod was known
        self._reported: set[tuple[str, str, str]] = set()
        self._seen = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.start_error = ""

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and start the watches; never blocks shipping on the API (waits at most resolve_wait for a sync)."""
        if self.client_factory is None:
            return
        try:
            self.client = self.owners.client = await self.client_factory()
        except Exception as exc:  # no credentials: ship with path metadata, and say so
            self.start_error = f"{type(exc).__name__}: {exc}"
            log.error("kubernetes metadata unavailable; shipping with path-derived metadata",
                      extra={"error.message": self.start_error})
            return
        selector = f"spec.nodeName={self.node_name}" if self.node_name else None
        self.pods = Reflector(self.client, PODS, transform=pod_meta, field_selector=selector,
                              on_add=self._pod_added, on_update=self._pod_added, on_delete=self._pod_deleted)
        self.namespaces = Reflector(self.client, NAMESPACES, transform=namespace_labels,
                                    on_add=self._ns_changed, on_update=self._ns_changed)
        self.pods.start()
        self.namespaces.start()
        await asyncio.gather(self.pods.wait_synced(self.resolve_wait), self.namespaces.wait_synced(self.resolve_wait))

    async def stop(self) -> None:
        """Stop the watches and close the client."""
        for r in (self.pods, self.namespaces):
            if r is not None:
                await r.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None:
            await self.client.close()

    def api_up(self) -> bool:
        """Whether both watches reached the API on their last call."""
        # `is not None`: a Reflector has a length, so one holding no objects yet is falsy.
        return self.pods is not None and self.namespaces is not None and self.pods.up and self.namespaces.up

    def readiness(self) -> tuple[bool, str]:
        """Ready when the API answers; otherwise the reason (shipping goes on with path-derived metadata)."""
        if self.client_factory is None:
            return True, "kubernetes metadata off"
        if self.api_up():
            return True, "kubernetes API up"
        why = self.start_error or (self.pods.last_error if self.pods is not None and self.pods.last_error else "not synced yet")
        return False, f"kubernetes API unreachable ({why}); shipping with path-derived metadata"

    def extra_paths(self) -> list[str]:
        """Host globs of files declared inside emptyDir volumes by this node's pods."""
        return sorted({f.host_glob for plan in self.plans.values() for f in plan.files})

    # ---- watch callbacks (on the loop, quick) --------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pod_added(self, key: str, pod: PodMeta) -> None:
        old = self.by_uid.get(pod.uid)
        self.by_uid[pod.uid] = pod
        self.deleted.pop(pod.uid, None)
        self._seen.set()
        plan_changed = old is None or old.annotations != pod.annotations or old.containers != pod.containers
        if plan_changed or pod.uid not in self.plans:
            self.plans[pod.uid] = self._plan(pod)
        waiting = self.unresolved.pop(key, [])
        if waiting or (old is not None and (plan_changed or old.labels != pod.labels or old.container_ids != pod.container_ids
                                         or old.running_attempts != pod.running_attempts)):
            self.bindings.setdefault(pod.uid, []).extend(waiting)
            self._spawn(self._rebind(pod.uid))

    def _pod_deleted(self, key: str, pod: PodMeta) -> None:
        # Its files are still being read to their end: keep the metadata for the grace period.
        pod.deleted_at = time.monotonic()
        self.deleted[pod.uid] = pod
        log.info("pod deleted; its metadata is kept for the grace period", extra={
            "kubernetes.namespace": pod.namespace, "kubernetes.pod.name": pod.name, "kubernetes.pod.uid": pod.uid,
            "observe.grace_seconds": self.grace})
        self.by_uid.pop(pod.uid, None)
        self._expire()

    def _ns_changed(self, key: str, labels: dict[str, str]) -> None:
        uids = [uid for uid, pod in self.by_uid.items() if pod.namespace == key and uid in self.bindings]
        for uid in uids:
            self._spawn(self._rebind(uid))

    def _expire(self) -> None:
        now = time.monotonic()
        for uid, pod in list(self.deleted.items()):
            if pod.deleted_at is not None and now - pod.deleted_at > self.grace:
                del self.deleted[uid]
                self.plans.pop(uid, None)
                self.bindings.pop(uid, None)
                self._reported = {r for r in self._reported if r[0] != uid}
        if len(self.unresolved) > MAX_UNRESOLVED:
            # Files of pods the API never showed (long gone): stop waiting for them, oldest first.
            for key in list(self.unresolved)[: len(self.unresolved) - MAX_UNRESOLVED]:
                del self.unresolved[key]

    def _plan(self, pod: PodMeta) -> Plan:
        plan = build_plan(uid=pod.uid, annotations=pod.annotations, containers=pod.containers,
                          empty_dirs=pod.empty_dirs, kubelet_root=self.kubelet_root)
        for err in plan.errors:
            seen = (pod.uid, err.key, err.value)
            if seen in self._reported:
                continue
            self._reported.add(seen)
            self.metrics.annotation_errors.labels(pod.namespace, pod.name, err.key).inc()
            log.warning("invalid log annotation; the stream ships with defaults", extra={
                "kubernetes.namespace": pod.namespace, "kubernetes.pod.name": pod.name, "labels.key": err.key,
                "labels.value": err.value, "error.message": err.reason})
        return plan

    # ---- lookups -----------------------------------------------------------------------------
    def _find(self, uid: str, namespace: str, name: str) -> PodMeta | None:
        if uid:
            pod = self.by_uid.get(uid) or self.deleted.get(uid)
            if pod is not None:
                return pod
        if self.pods is not None and namespace and name:
            pod = self.pods.store.get(f"{namespace}/{name}")
            if pod is not None:
                return pod
            for gone in self.deleted.values():
                if gone.namespace == namespace and gone.name == name:
                    return gone
        return None

    # ---- MetadataProvider ----------------------------------------------------------------------
    async def resolve(self, slot: PlanSlot) -> None:
        """Publish the enriched plan of a newly opened file (path-derived when the pod cannot be found)."""
        base = slot.current
        if self.client_factory is None:
            self._publish(Binding(plans=slot, base=base, container=""), Stream())
            return
        kube = base.fields.get("kubernetes") or {}
        uid = str((kube.get("pod") or {}).get("uid") or "")
        container = str((base.fields.get("container") or {}).get("name") or "")
        file_glob: str | None = None
        m = _EMPTY_DIR.search(base.path)
        if m and base.path.startswith(self.kubelet_root + "/"):
            uid = m["uid"]
        pod = self._find(uid, base.namespace, base.pod)
        if pod is None and self.api_up() and self._worth_waiting(base.path):
            # The file can appear a moment before the watch event for its pod.
            deadline = time.monotonic() + self.resolve_wait
            while pod is None and time.monotonic() < deadline:
                self._seen.clear()
                try:
                    await asyncio.wait_for(self._seen.wait(), max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    pass
                pod = self._find(uid, base.namespace, base.pod)
        if m and pod is not None:
            plan = self.plans.get(pod.uid) or self._plan(pod)
            match = next((f for f in plan.files if fnmatch.fnmatch(base.path, f.host_glob)), None)
            file_glob = match.host_glob if match else None
            container = match.container if match else container
        binding = Binding(plans=slot, base=base, container=container, file_glob=file_glob)
        if pod is None:
            if base.namespace and base.pod:
                self.unresolved.setdefault(f"{base.namespace}/{base.pod}", []).append(binding)
            log.info("no pod metadata for file; shipping with path-derived metadata",
                     extra={"file.path": base.path, "kubernetes.namespace": base.namespace,
                            "kubernetes.pod.name": base.pod})
            self._publish(binding, Stream())
            return
        self.bindings.setdefault(pod.uid, []).append(binding)
        await self._bind(binding, pod)

    def _worth_waiting(self, path: str) -> bool:
        """Wait for the watch only before the first sync or for a new file; stale files of gone pods never stall."""
        if self.pods is None or not self.pods.synced.is_set():
            return True
        try:
            return time.time() - os.stat(path).st_mtime < YOUNG_FILE_SECONDS
        except OSError:
            return False

    async def _rebind(self, uid: str) -> None:
        pod = self.by_uid.get(uid) or self.deleted.get(uid)
        if pod is None:
            return
        for binding in list(self.bindings.get(uid, [])):
            await self._bind(binding, pod)

    async def _bind(self, binding: Binding, pod: PodMeta) -> None:
        """Apply the pod's current metadata and plan to one open file."""
        plan = self.plans.get(pod.uid) or self._plan(pod)
        self.plans[pod.uid] = plan
        if binding.file_glob is not None:
            match = next((f for f in plan.files if f.host_glob == binding.file_glob), None)
            stream: Stream | None = match.stream if match else Stream()
            if plan.excluded:
                stream = None
        else:
            stream = plan.output_stream(binding.container)
        ns_labels = self.namespaces.store.get(pod.namespace, {}) if self.namespaces else {}
        fields = file_fields(binding, pod, ns_labels, await self.owners.workload(pod), stream)
        index = stream.index if stream is not None else None
        if index and self.streams is not None:
            await self.streams.prepare(index)  # the template exists before the plan's first event is sent
        self._publish(binding, stream, fields=fields, namespace=pod.namespace, pod=pod.name, data_stream=index)

    def _publish(self, binding: Binding, stream: Stream | None, **changes: Any) -> None:
        """Publish the file's next plan: the latest one with `changes` and the stream's processing settings."""
        binding.stream = stream
        settings = stream_settings(stream, self.default_multiline, self.default_parser)
        plan = replace(binding.plans.latest(), settings=settings, **changes)
        binding.plans.publish(plan)
