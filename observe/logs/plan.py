"""A file's plan: what the pipeline does with one log file, immutable, produced by the enricher.

The tailer starts a file on the plan its path gives (namespace, pod, uid, container from the kubelet's layout).
A MetadataProvider (observe/logs/enrich.py) publishes richer plans into the file's PlanSlot: when the file is
opened and whenever its pod changes. The reader takes the newest plan between two chunks, so a plan never
changes under a stage's feet and nothing flows back from the reader to the enricher.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
_POD_DIR = re.compile(r"^(?P<ns>[^_/]+)_(?P<pod>[^_/]+)_(?P<uid>[^_/]+)$")
# /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log
_CONTAINER_LINK = re.compile(r"^(?P<pod>[^_]+)_(?P<ns>[^_]+)_(?P<container>.+)-(?P<id>[0-9a-f]{64})\.log$")


@dataclass(frozen=True)
class Settings:
    """What to do with one file's records: exclude them, merge multiline events, parse messages."""

    excluded: bool = False
    multiline: str = "none"
    parser: str = "none"


NO_PROCESSING = Settings()


@dataclass(frozen=True)
class FilePlan:
    """One file's resolved settings: the constant ECS fields (encoded once per file), the target, the processing."""

    path: str
    fields: Mapping[str, Any]
    namespace: str = ""
    pod: str = ""
    format: str = "auto"
    data_stream: str | None = None  # None: the configured default
    settings: Settings = field(default=NO_PROCESSING)


class PlanSlot:
    """The one-way channel of a file's plans: the enricher publishes, the reader takes between chunks."""

    __slots__ = ("current", "next")

    def __init__(self, plan: FilePlan) -> None:
        self.current = plan
        self.next: FilePlan | None = None

    def publish(self, plan: FilePlan) -> None:
        """Offer a new plan; the reader applies it before its next chunk (a newer one replaces an untaken one)."""
        self.next = plan

    def take(self) -> FilePlan | None:
        """The newly published plan, now current; None when there is none."""
        plan = self.next
        if plan is not None:
            self.next = None
            self.current = plan
        return plan

    def latest(self) -> FilePlan:
        """The newest plan, taken or not."""
        return self.next or self.current


class DataStreams(Protocol):
    """Who must hear that a plan names a data stream before its first event is sent (the sink's templates)."""

    async def prepare(self, data_stream: str) -> None:
        """Get `data_stream` ready (idempotent)."""
        ...


class MetadataProvider(Protocol):
    """Turns the path-derived plan of a newly opened file into the one used to ship it, and keeps it current."""

    async def resolve(self, slot: PlanSlot) -> None:
        """Publish the file's plan into `slot` (may await the Kubernetes API; should bound its own wait)."""
        ...

    def extra_paths(self) -> list[str]:
        """More globs to tail (files pods declare inside emptyDir volumes)."""
        ...


class PathMetadata:
    """The default provider: the path-derived plan, unchanged."""

    async def resolve(self, slot: PlanSlot) -> None:
        return None

    def extra_paths(self) -> list[str]:
        return []


def path_plan(path: str, real_path: str, *, host_name: str, node_name: str | None, fmt: str,
              settings: Settings = NO_PROCESSING) -> FilePlan:
    """The context the kubelet's file layout gives: namespace, pod name and uid, container name, id and restart count."""
    fields: dict[str, Any] = {}
    kube: dict[str, Any] = {}
    container: dict[str, Any] = {}
    for candidate in (real_path, path):
        parts = candidate.split(os.sep)
        if len(parts) >= 3:
            m = _POD_DIR.match(parts[-3])
            restart = parts[-1].split(".")[0]
            if m and restart.isdigit():
                # The file name is the kubelet's restart count of the container: 0.log, then 1.log, ...
                kube = {"namespace": m["ns"], "pod": {"name": m["pod"], "uid": m["uid"]},
                        "container": {"restart_count": int(restart)}}
                container["name"] = parts[-2]
                break
    link = _CONTAINER_LINK.match(os.path.basename(path))
    if link:
        container["id"] = link["id"]
        container.setdefault("name", link["container"])
        if not kube:
            kube = {"namespace": link["ns"], "pod": {"name": link["pod"]}}
    if node_name:
        kube["node"] = {"name": node_name}
    if container:
        fields["container"] = container
    if kube:
        fields["kubernetes"] = kube
    fields["host"] = {"name": host_name}
    pod = kube.get("pod", {}).get("name", "")
    return FilePlan(path=path, fields=fields, namespace=kube.get("namespace", ""), pod=pod, format=fmt, settings=settings)


def dedot(labels: dict[str, str]) -> dict[str, str]:
    """Label keys with every `.` turned into `_` (`/` stays), so `app` and `app.kubernetes.io/name` never conflict."""
    return {k.replace(".", "_"): v for k, v in labels.items()}
