"""What one open file of a pod ships with: its Binding, the fields the pod's metadata adds, its settings.

KubeEnricher (observe/logs/enrich.py) ties each open file to its pod and publishes the file's plans with these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from observe.logs.annotations import Stream, dedot
from observe.logs.plan import NO_PROCESSING, FilePlan, PlanSlot, Settings
from observe.logs.pod_meta import PodMeta
from observe.merge import deep_merge


@dataclass
class Binding:
    """One open file tied to its pod: what it is (a container's output or a declared file) and where its plans go."""

    plans: PlanSlot
    base: FilePlan  # the path-derived plan
    container: str
    file_glob: str | None = None  # the declared file stream's host glob, for files inside an emptyDir
    stream: Stream | None = field(default_factory=Stream)  # None: excluded


def file_fields(binding: Binding, pod: PodMeta, ns_labels: dict[str, str], workload: dict[str, Any],
                stream: Stream | None) -> dict[str, Any]:
    """The file's fields with the pod's metadata: namespace, pod, labels, node, workload, container, stream tags."""
    kube: dict[str, Any] = {
        "namespace": pod.namespace,
        "pod": {"name": pod.name, "uid": pod.uid},
        "labels": {dedot(k): v for k, v in pod.labels.items()},
        "namespace_labels": {dedot(k): v for k, v in ns_labels.items()},
        **workload,
    }
    if pod.node:
        kube["node"] = {"name": pod.node}
    fields = deep_merge(dict(binding.base.fields), {"kubernetes": kube})
    # The path's labels are from the file name; the API's are authoritative (a label may have been removed).
    fields["kubernetes"]["labels"] = kube["labels"]
    fields["kubernetes"]["namespace_labels"] = kube["namespace_labels"]
    container: dict[str, Any] = {"name": binding.container} if binding.container else {}
    cid = container_id(binding, pod)
    if cid:
        container["id"] = cid
    if binding.container in pod.images:
        container["image"] = {"name": pod.images[binding.container]}
    if container:
        fields = deep_merge(fields, {"container": container})
    if stream is not None and stream.tags:
        fields = deep_merge(fields, {"labels": dict(stream.tags)})
    return fields


def container_id(binding: Binding, pod: PodMeta) -> str | None:
    """The runtime id of the container that wrote this file, or None when it is not known for certain.

    The pod's status names only its current container: a restarted container's earlier file (0.log once 1.log
    runs) or a new run's file read before the status caught up would get another run's id. The file's own name
    wins (/var/log/containers/<pod>_<ns>_<container>-<id>.log); otherwise the status id, only when it is of
    the running attempt whose number the file's name (N.log) gives.
    """
    base = binding.base.fields
    own = (base.get("container") or {}).get("id")
    if own:
        return str(own)
    cid = pod.container_ids.get(binding.container)
    if cid is None:
        return None
    restart = ((base.get("kubernetes") or {}).get("container") or {}).get("restart_count")
    if restart is None or binding.file_glob is not None:
        return cid  # a declared file (inside an emptyDir) or a path without a run number: the current container's
    return cid if pod.running_attempts.get(binding.container) == restart else None


def stream_settings(stream: Stream | None, default_multiline: str, default_parser: str) -> Settings:
    """The processing settings of a stream (None: excluded), the shipper's defaults where it names none."""
    if stream is None:
        return Settings(excluded=True)
    settings = Settings(multiline=stream.multiline or default_multiline,
                        parser=stream.format or default_parser)
    return NO_PROCESSING if settings == NO_PROCESSING else settings
