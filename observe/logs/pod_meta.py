"""The slim pod: only what the shipper ships of a pod, from its API object (memory stays proportional)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from observe.logs.annotations import ContainerSpec, Mount

_ENV = re.compile(r"^aliyun[_.]logs[_.]")


@dataclass
class PodMeta:
    """Only what we ship of a pod (memory stays proportional to that)."""

    uid: str
    name: str
    namespace: str
    node: str
    labels: dict[str, str]
    annotations: dict[str, str]  # only observe.io/logs*
    owner: tuple[str, str] | None  # the controller ownerReference: (kind, name)
    images: dict[str, str]  # container -> image
    container_ids: dict[str, str]  # container -> runtime id (without the runtime:// prefix)
    # container -> the kubelet's restart count of the running container that id belongs to (its file is N.log)
    running_attempts: dict[str, int]
    containers: list[ContainerSpec]
    empty_dirs: set[str]
    deleted_at: float | None = None


def pod_meta(obj: dict[str, Any]) -> PodMeta:
    """The slim pod from an API object."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    owner = next(((o.get("kind", ""), o.get("name", "")) for o in meta.get("ownerReferences") or () if o.get("controller")), None)
    containers: list[ContainerSpec] = []
    images: dict[str, str] = {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        images[c["name"]] = c.get("image", "")
        mounts = tuple(Mount(m.get("mountPath", ""), m.get("name", ""), m.get("subPath", ""))
                       for m in c.get("volumeMounts") or ())
        # Only literal values: valueFrom would need Secrets/ConfigMaps, which log-pilot never read either.
        env = tuple((e["name"], str(e["value"])) for e in c.get("env") or ()
                    if _ENV.match(e.get("name", "")) and "value" in e)
        containers.append(ContainerSpec(c["name"], mounts, env))
    ids: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        cid = cs.get("containerID") or ""
        if cid:
            ids[cs["name"]] = cid.split("://", 1)[-1]
            if "running" in (cs.get("state") or {}):
                attempts[cs["name"]] = int(cs.get("restartCount") or 0)
        if cs.get("image") and cs["name"] not in images:
            images[cs["name"]] = cs["image"]
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items() if k.startswith("observe.io/logs")}
    return PodMeta(
        uid=meta.get("uid", ""), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        node=spec.get("nodeName", ""), labels=dict(meta.get("labels") or {}), annotations=annotations, owner=owner,
        images=images, container_ids=ids, running_attempts=attempts, containers=containers,
        empty_dirs={v["name"] for v in spec.get("volumes") or () if "emptyDir" in v},
    )


def namespace_labels(obj: dict[str, Any]) -> dict[str, str]:
    """A namespace's labels."""
    return dict((obj.get("metadata") or {}).get("labels") or {})
