"""Pod families (kube_pod_*), with kube-state-metrics' labels and semantics."""

from __future__ import annotations

from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families, owners, timestamp
from exporters.cluster.resources import unit_value
from observe.exposition import escape, labels
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
# kube-state-metrics 2.20's known reasons: one series (value 1) for each reason the pod has, as its status.reason,
# a condition's reason or a terminated container's reason, and reason="Other" for a status.reason outside the list.
# A pod without a reason has no series (kube-state-metrics before 2.1x wrote a 0 for every reason of every pod:
# six series per pod for nothing, 18 % of the bench's series).
STATUS_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "PreemptionByScheduler", "SchedulingGated", "Shutdown",
                  "TerminationByKubelet", "UnexpectedAdmissionError")


def render(pod: Obj, opts: Options) -> dict[str, bytes]:
    """Every pod family for one pod."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    node = spec.get("nodeName") or ""
    out = Out(labels((("namespace", md.get("namespace", "")), ("pod", md.get("name", "")), ("uid", md.get("uid", "")))))

    controller = next((r for r in md.get("ownerReferences") or () if r.get("controller")), None)
    out.add("kube_pod_info", 1, labels((
        ("host_ip", status.get("hostIP", "")), ("pod_ip", status.get("podIP", "")), ("node", node),
        ("created_by_kind", (controller or {}).get("kind") or "<none>"),
        ("created_by_name", (controller or {}).get("name") or "<none>"),
        ("priority_class", spec.get("priorityClassName", "")),
        ("host_network", "true" if spec.get("hostNetwork") else "false"),
    )))
    owners(out, "kube_pod_owner", pod, "<none>")
    out.meta("pod", pod, opts)

    phase = status.get("phase")
    if phase:
        for p in PHASES:
            out.add("kube_pod_status_phase", 1 if p == phase else 0, f'phase="{p}"')
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            out.bool3("kube_pod_status_ready", cond.get("status"))
        elif cond.get("type") == "PodScheduled":
            out.bool3("kube_pod_status_scheduled", cond.get("status"))
    status_reasons(out, status)
    out.add("kube_pod_start_time", timestamp(status.get("startTime")))
    out.add("kube_pod_created", timestamp(md.get("creationTimestamp")))

    images = {c.get("name"): c.get("image", "") for c in spec.get("containers") or ()}
    for cs in status.get("containerStatuses") or ():
        name = cs.get("name", "")
        c = f'container="{escape(name)}"'
        if name in images:
            out.add("kube_pod_container_info", 1, labels((
                ("container", name), ("image_spec", images[name]), ("image", cs.get("image", "")),
                ("image_id", cs.get("imageID", "")), ("container_id", cs.get("containerID", "")))))
        out.add("kube_pod_container_status_restarts_total", cs.get("restartCount", 0), c)
        out.add("kube_pod_container_status_ready", 1 if cs.get("ready") else 0, c)
        state = cs.get("state") or {}
        if "waiting" in state:
            out.add("kube_pod_container_status_waiting_reason", 1,
                    f'{c},reason="{escape((state["waiting"] or {}).get("reason", ""))}"')
        if "terminated" in state:
            out.add("kube_pod_container_status_terminated_reason", 1,
                    f'{c},reason="{escape((state["terminated"] or {}).get("reason", ""))}"')
        last = (cs.get("lastState") or {}).get("terminated")
        if last is not None:
            out.add("kube_pod_container_status_last_terminated_reason", 1, f'{c},reason="{escape(last.get("reason", ""))}"')

    for container in spec.get("containers") or ():
        c = f'container="{escape(container.get("name", ""))}",node="{escape(node)}"'
        res = container.get("resources") or {}
        for family, key in (("kube_pod_container_resource_requests", "requests"),
                            ("kube_pod_container_resource_limits", "limits")):
            for rname, raw in (res.get(key) or {}).items():
                uv = unit_value(rname, raw)
                if uv is not None:
                    out.add(family, uv[2], f'{c},resource="{uv[0]}",unit="{uv[1]}"')
    return out.result()


KIND = Kind("pods", PODS, FAMILIES, render, protobuf="PodList")


def status_reasons(out: Out, status: Obj) -> None:
    """kube_pod_status_reason: the known reasons the pod has, then "Other" for an unknown status.reason."""
    reasons = {status.get("reason")} | {c.get("reason") for c in status.get("conditions") or ()}
    reasons |= {((cs.get("state") or {}).get("terminated") or {}).get("reason")
                for cs in status.get("containerStatuses") or ()}
    for reason in STATUS_REASONS:
        if reason in reasons:
            out.add("kube_pod_status_reason", 1, f'reason="{reason}"')
    if status.get("reason") and status["reason"] not in STATUS_REASONS:
        out.add("kube_pod_status_reason", 1, 'reason="Other"')
