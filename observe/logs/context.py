"""What the pipeline knows about one log file, and the seams where enrichment plugs in.

The reader builds a FileContext from the path alone (namespace, pod, uid, container from the kubelet's layout).
A MetadataProvider may replace it with a richer one when the file is opened (pod labels from the API,
per-pod annotation config), and may attach RecordProcessors (multiline, parsers, exclusion) that run on the
decoded records of that file before they are encoded. Everything in `fields` is encoded once per file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from observe.logs.record import Record

# /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
_POD_DIR = re.compile(r"^(?P<ns>[^_/]+)_(?P<pod>[^_/]+)_(?P<uid>[^_/]+)$")
# /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log
_CONTAINER_LINK = re.compile(r"^(?P<pod>[^_]+)_(?P<ns>[^_]+)_(?P<container>.+)-(?P<id>[0-9a-f]{64})\.log$")


class RecordProcessor(Protocol):
    """A per-file stage between decode and encode (multiline, parsers, exclusion).

    It may hold records back (multiline); it must then report the offset of the oldest one it holds, so the
    checkpoint never passes an event that has not been shipped. A processor that drops a record counts it.
    """

    def process(self, records: list[Record]) -> list[Record]:
        """Transform a run of records (in offset order) into the records to encode now."""
        ...

    def flush(self, now: float, final: bool) -> list[Record]:
        """Release held records that timed out (or all of them when `final`, i.e. the file is closing)."""
        ...

    def pending_offset(self) -> int | None:
        """Offset of the oldest held record, or None when nothing is held."""
        ...


@dataclass
class FileContext:
    """Per-file metadata: the constant ECS fields, the metric labels, the target and the processors."""

    path: str
    fields: dict[str, Any]
    namespace: str = ""
    pod: str = ""
    format: str = "auto"
    data_stream: str | None = None  # None: the configured default
    processors: list[RecordProcessor] = field(default_factory=list)
    revision: int = 0  # bumped by a provider that changed fields/data_stream of an open file (re-encodes from then on)


class MetadataProvider(Protocol):
    """Turns the path-derived context of a newly opened file into the one used to ship it."""

    async def resolve(self, context: FileContext) -> FileContext:
        """Return the context to use (may await the Kubernetes API; should bound its own wait)."""
        ...

    def extra_paths(self) -> list[str]:
        """More globs to tail (files pods declare inside emptyDir volumes)."""
        ...


class PathMetadata:
    """The default provider: the path-derived context, unchanged."""

    async def resolve(self, context: FileContext) -> FileContext:
        return context

    def extra_paths(self) -> list[str]:
        return []


def path_context(path: str, real_path: str, *, host_name: str, node_name: str | None, fmt: str) -> FileContext:
    """The context the kubelet's file layout gives: namespace, pod name and uid, container name and id."""
    fields: dict[str, Any] = {}
    kube: dict[str, Any] = {}
    container: dict[str, Any] = {}
    for candidate in (real_path, path):
        parts = candidate.split(os.sep)
        if len(parts) >= 3:
            m = _POD_DIR.match(parts[-3])
            if m and parts[-1].split(".")[0].isdigit():
                kube = {"namespace": m["ns"], "pod": {"name": m["pod"], "uid": m["uid"]}}
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
    return FileContext(path=path, fields=fields, namespace=kube.get("namespace", ""), pod=pod, format=fmt)


def dedot(labels: dict[str, str]) -> dict[str, str]:
    """Label keys with every `.` turned into `_` (`/` stays), so `app` and `app.kubernetes.io/name` never conflict."""
    return {k.replace(".", "_"): v for k, v in labels.items()}
