"""Pod families (kube_pod_*), with kube-state-metrics' labels and semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from exporters.cluster.family import (
    BOOL3,
    Family,
    Kind,
    Obj,
    Options,
    choice_text,
    meta_families,
    meta_texts,
    owner_text,
    timestamp,
)
from exporters.cluster.resources import unit_value
from observe.exposition import escape, number
from observe.kube.reflector import PODS

FAMILIES = (
    Family("kube_pod_info", "gauge", "Information about pod."),
    Family("kube_pod_owner", "gauge", "Information about the Pod's owner."),
    *meta_families("pod", "pod"),
    Family("kube_pod_status_phase", "gauge", "The pods current phase."),
    Family("kube_pod_status_ready", "gauge", "Describes whether the pod is ready to serve requests."),
    Family("kube_pod_status_scheduled", "gauge", "Describes the status of the scheduling process for the pod."),
    Family("kube_pod_status_reason", "gauge", "The pod status reasons"),
    Family("kube_pod_start_time", "gauge", "Start time in unix timestamp for a pod."),
    Family("kube_pod_created", "gauge", "Unix creation timestamp"),
    Family("kube_pod_container_info", "gauge", "Information about a container in a pod."),
    Family("kube_pod_container_status_restarts_total", "counter", "The number of container restarts per container."),
    Family("kube_pod_container_status_waiting_reason", "gauge",
           "Describes the reason the container is currently in waiting state."),
    Family("kube_pod_container_status_terminated_reason", "gauge",
           "Describes the reason the container is currently in terminated state."),
    Family("kube_pod_container_status_last_terminated_reason", "gauge",
           "Describes the last reason the container was in terminated state."),
    Family("kube_pod_container_status_ready", "gauge", "Describes whether the containers readiness check succeeded."),
    Family("kube_pod_container_resource_requests", "gauge", "The number of requested request resource by a container."),
    Family("kube_pod_container_resource_limits", "gauge", "The number of requested limit resource by a container."),
)

PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
_CONDITION_FAMILIES = {"Ready": "kube_pod_status_ready", "PodScheduled": "kube_pod_status_scheduled"}
# kube-state-metrics 2.20's known reasons: one series (value 1) for each reason the pod has, as its status.reason,
# a condition's reason or a terminated container's reason, and reason="Other" for a status.reason outside the list.
# A pod without a reason has no series (kube-state-metrics before 2.1x wrote a 0 for every reason of every pod:
# six series per pod for nothing, 18 % of the bench's series).
STATUS_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "PreemptionByScheduler", "SchedulingGated", "Shutdown",
                  "TerminationByKubelet", "UnexpectedAdmissionError")


class Container(NamedTuple):
    """What the pod families read of one spec container."""

    name: str
    image: str
    requests: Mapping[str, str]
    limits: Mapping[str, str]


class ContainerStatus(NamedTuple):
    """What they read of one container status; a state's reason is None when the container is not in that state."""

    name: str
    image: str
    image_id: str
    container_id: str
    restarts: int
    ready: bool
    waiting: str | None
    terminated: str | None
    last_terminated: str | None


class PodFacts(NamedTuple):
    """Everything the pod families read of a pod, from its JSON dict (facts) or its protobuf message (facts_of)."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] | None
    annotations: Mapping[str, str] | None
    owners: list[tuple[str, str, bool]]
    node: str
    host_ip: str
    pod_ip: str
    priority_class: str
    host_network: bool
    phase: str | None
    conditions: list[tuple[str | None, str | None, str | None]]
    reason: str | None
    start_time: float | None
    created: float | None
    containers: list[Container]
    statuses: list[ContainerStatus]


def _state_reason(state: Obj, which: str) -> str | None:
    return None if which not in state else (state[which] or {}).get("reason", "")


def facts(pod: Obj) -> PodFacts:
    """A pod's facts from the JSON API's dict."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = []
    for cs in status.get("containerStatuses") or ():
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated")
        statuses.append(ContainerStatus(  # restartCount null: Go reads the int32 as 0
            cs.get("name", ""), cs.get("image", ""), cs.get("imageID", ""), cs.get("containerID", ""),
            cs.get("restartCount") or 0, bool(cs.get("ready")), _state_reason(state, "waiting"),
            _state_reason(state, "terminated"), None if last is None else last.get("reason", "")))
    containers = []
    for c in spec.get("containers") or ():
        res = c.get("resources") or {}
        containers.append(Container(c.get("name", ""), c.get("image", ""), res.get("requests") or {},
                                    res.get("limits") or {}))
    return PodFacts(
        md.get("namespace", ""), md.get("name", ""), md.get("uid", ""), md.get("labels"), md.get("annotations"),
        [(r.get("kind", ""), r.get("name", ""), bool(r.get("controller"))) for r in md.get("ownerReferences") or ()],
        spec.get("nodeName") or "", status.get("hostIP", ""), status.get("podIP", ""),
        spec.get("priorityClassName", ""), bool(spec.get("hostNetwork")), status.get("phase"),
        [(c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or ()],
        status.get("reason"), timestamp(status.get("startTime")), timestamp(md.get("creationTimestamp")),
        containers, statuses)


# Go's zero time.Time in Unix seconds: a protobuf Time holding it is JSON's null.
_ZERO_TIME = -62135596800


def _seconds(parent: Any, field: str) -> float | None:
    if not parent.HasField(field):
        return None
    seconds = getattr(parent, field).seconds
    return None if seconds == _ZERO_TIME else float(seconds)


def _message_reason(state: Any, which: str) -> str | None:
    return getattr(state, which).reason if state.HasField(which) else None


def facts_of(pod: Any) -> PodFacts:
    """A pod's facts from its protobuf message (observe/kube/protobuf.py's Pod), with no dict built on the way.

    A LIST page in protobuf used to become dicts first (protobuf.to_dict), which cost as much per pod as rendering
    it (about 45 us of a pod's 100 on the 2-core dev machine). Zero values stand for JSON's absent fields, as in
    to_dict: "" for a string, 0, false.
    """
    md, spec, status = pod.metadata, pod.spec, pod.status
    statuses = []
    for cs in status.containerStatuses:
        state = cs.state
        statuses.append(ContainerStatus(
            cs.name, cs.image, cs.imageID, cs.containerID, cs.restartCount, cs.ready,
            _message_reason(state, "waiting"), _message_reason(state, "terminated"),
            _message_reason(cs.lastState, "terminated")))
    containers = []
    for c in spec.containers:
        res = c.resources
        requests, limits = res.requests, res.limits  # each attribute read builds a new map wrapper
        # Sorted by name, as the JSON API writes a map (Go's encoding/json), so both encodings give the same order;
        # a decoded protobuf map iterates in upb's hash order.
        containers.append(Container(c.name, c.image, {k: requests[k].string for k in sorted(requests)},
                                    {k: limits[k].string for k in sorted(limits)}))
    return PodFacts(
        md.namespace, md.name, md.uid, md.labels, md.annotations,
        [(r.kind, r.name, r.controller) for r in md.ownerReferences],
        spec.nodeName, status.hostIP, status.podIP, spec.priorityClassName, spec.hostNetwork, status.phase,
        [(c.type, c.status, c.reason) for c in status.conditions], status.reason,
        _seconds(status, "startTime"), _seconds(md, "creationTimestamp"), containers, statuses)


def render(pod: Obj, opts: Options) -> dict[str, bytes]:
    """Every pod family for one pod, from its JSON dict."""
    return emit(facts(pod), opts)


def render_message(pod: Any, opts: Options) -> dict[str, bytes]:
    """Every pod family for one pod, from its protobuf message."""
    return emit(facts_of(pod), opts)


def emit(pod: PodFacts, opts: Options) -> dict[str, bytes]:
    """Every pod family for one pod's facts.

    Each family's lines are written out here rather than through Out.add (one call chain per sample): after start-up
    this is the largest part of the 10,000-pod sync, and writing them directly took it from about 28 to 21 us per pod
    (docs/exporters.md). The lines are the same: the unit tests of the pod families and the bench's diff against
    kube-state-metrics hold them.
    """
    node = pod.node
    p = f'namespace="{escape(pod.namespace)}",pod="{escape(pod.name)}",uid="{escape(pod.uid)}"'
    text: dict[str, str] = {}

    controller = next((r for r in pod.owners if r[2]), None)
    text["kube_pod_info"] = (
        f'kube_pod_info{{{p},host_ip="{escape(pod.host_ip)}",pod_ip="{escape(pod.pod_ip)}",node="{escape(node)}",'
        f'created_by_kind="{escape((controller and controller[0]) or "<none>")}",'
        f'created_by_name="{escape((controller and controller[1]) or "<none>")}",'
        f'priority_class="{escape(pod.priority_class)}",host_network="{"true" if pod.host_network else "false"}"}} 1\n')
    text["kube_pod_owner"] = owner_text("kube_pod_owner", p, pod.owners, "<none>")
    text.update(meta_texts("pod", p, pod.labels, pod.annotations, opts))

    if pod.phase:
        text["kube_pod_status_phase"] = choice_text("kube_pod_status_phase", p, "phase", PHASES, pod.phase)
    for ctype, cstatus, _ in pod.conditions:
        family = _CONDITION_FAMILIES.get(ctype or "")
        if family is not None:
            samples = choice_text(family, p, "condition", BOOL3, (cstatus or "").lower())
            text[family] = text[family] + samples if family in text else samples
    reasons = status_reasons(pod)
    if reasons:
        text["kube_pod_status_reason"] = "".join([f'kube_pod_status_reason{{{p},reason="{r}"}} 1\n' for r in reasons])
    if pod.start_time is not None:
        text["kube_pod_start_time"] = f"kube_pod_start_time{{{p}}} {number(pod.start_time)}\n"
    if pod.created is not None:
        text["kube_pod_created"] = f"kube_pod_created{{{p}}} {number(pod.created)}\n"

    if pod.statuses:
        images = {c.name: c.image for c in pod.containers}
        info, restarts, ready, waiting, terminated, last = [], [], [], [], [], []
        for cs in pod.statuses:
            name = cs.name
            c = f'{p},container="{escape(name)}"'
            if name in images:
                info.append(f'kube_pod_container_info{{{c},image_spec="{escape(images[name])}",'
                            f'image="{escape(cs.image)}",image_id="{escape(cs.image_id)}",'
                            f'container_id="{escape(cs.container_id)}"}} 1\n')
            restarts.append(f"kube_pod_container_status_restarts_total{{{c}}} {number(cs.restarts)}\n")
            ready.append(f"kube_pod_container_status_ready{{{c}}} {1 if cs.ready else 0}\n")
            if cs.waiting is not None:
                waiting.append(f'kube_pod_container_status_waiting_reason{{{c},reason="{escape(cs.waiting)}"}} 1\n')
            if cs.terminated is not None:
                terminated.append(
                    f'kube_pod_container_status_terminated_reason{{{c},reason="{escape(cs.terminated)}"}} 1\n')
            if cs.last_terminated is not None:
                last.append(f'kube_pod_container_status_last_terminated_reason{{{c},'
                            f'reason="{escape(cs.last_terminated)}"}} 1\n')
        for family, lines in (("kube_pod_container_info", info),
                              ("kube_pod_container_status_restarts_total", restarts),
                              ("kube_pod_container_status_waiting_reason", waiting),
                              ("kube_pod_container_status_terminated_reason", terminated),
                              ("kube_pod_container_status_last_terminated_reason", last),
                              ("kube_pod_container_status_ready", ready)):
            if lines:
                text[family] = "".join(lines)

    requests: list[str] = []
    limits: list[str] = []
    for container in pod.containers:
        c = f'{p},container="{escape(container.name)}",node="{escape(node)}"'
        for family, quantities, lines in (("kube_pod_container_resource_requests", container.requests, requests),
                                          ("kube_pod_container_resource_limits", container.limits, limits)):
            for rname, raw in quantities.items():
                uv = unit_value(rname, raw)
                if uv is not None:
                    lines.append(f'{family}{{{c},resource="{uv[0]}",unit="{uv[1]}"}} {number(uv[2])}\n')
    if requests:
        text["kube_pod_container_resource_requests"] = "".join(requests)
    if limits:
        text["kube_pod_container_resource_limits"] = "".join(limits)
    return {family: body.encode() for family, body in text.items()}


KIND = Kind("pods", PODS, FAMILIES, render, protobuf="PodList", render_message=render_message)


def status_reasons(pod: PodFacts) -> list[str]:
    """kube_pod_status_reason's reasons: the known ones the pod has, then "Other" for an unknown status.reason."""
    has = {pod.reason} | {reason for _, _, reason in pod.conditions} | {cs.terminated for cs in pod.statuses}
    reasons = [reason for reason in STATUS_REASONS if reason in has]
    if pod.reason and pod.reason not in STATUS_REASONS:
        reasons.append("Other")
    return reasons
