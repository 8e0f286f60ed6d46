"""Deployment, ReplicaSet, StatefulSet and DaemonSet families."""

from __future__ import annotations

from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families, num, owners
from observe.exposition import escape, labels
from observe.kube.reflector import REPLICASETS, Resource


def _out(obj: Obj, noun: str) -> Out:
    md = obj.get("metadata") or {}
    return Out(labels((("namespace", md.get("namespace", "")), (noun, md.get("name", "")))))


DEPLOYMENT_FAMILIES = (
    Family("kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment."),
    Family("kube_deployment_status_replicas", "gauge", "The number of replicas per deployment."),
    Family("kube_deployment_status_replicas_available", "gauge", "The number of available replicas per deployment."),
    Family("kube_deployment_status_replicas_updated", "gauge", "The number of updated replicas per deployment."),
    Family("kube_deployment_status_replicas_unavailable", "gauge",
           "The number of unavailable replicas per deployment."),
    Family("kube_deployment_status_observed_generation", "gauge",
           "The generation observed by the deployment controller."),
    Family("kube_deployment_status_condition", "gauge", "The current status conditions of a deployment."),
    Family("kube_deployment_metadata_generation", "gauge",
           "Sequence number representing a specific generation of the desired state."),
    *meta_families("deployment", "deployment"),
)


# The condition reasons of the deployment controller; kube-state-metrics 2.20 writes "unknown" for any other, so a
# controller cannot grow the series count with free-form reasons.
DEPLOYMENT_REASONS = frozenset((
    "ReplicaSetUpdated", "ReplicaSetCreateError", "NewReplicaSetCreated", "FoundNewReplicaSet", "NewReplicaSetAvailable",
    "ProgressDeadlineExceeded", "DeploymentPaused", "DeploymentResumed", "MinimumReplicasAvailable",
    "MinimumReplicasUnavailable", "",
))


def render_deployment(d: Obj, opts: Options) -> dict[str, bytes]:
    """Replica counts and generations of one deployment (missing status counts are 0, as in the Go types)."""
    spec, st = d.get("spec") or {}, d.get("status") or {}
    out = _out(d, "deployment")
    out.add("kube_deployment_spec_replicas", num(spec.get("replicas", 1)))
    out.add("kube_deployment_status_replicas", num(st.get("replicas", 0)))
    out.add("kube_deployment_status_replicas_available", num(st.get("availableReplicas", 0)))
    out.add("kube_deployment_status_replicas_updated", num(st.get("updatedReplicas", 0)))
    out.add("kube_deployment_status_replicas_unavailable", num(st.get("unavailableReplicas", 0)))
    out.add("kube_deployment_status_observed_generation", num(st.get("observedGeneration", 0)))
    for cond in st.get("conditions") or ():
        reason = cond.get("reason") or ""
        out.bool3("kube_deployment_status_condition", cond.get("status"), label="status", before=labels((
            ("reason", reason if reason in DEPLOYMENT_REASONS else "unknown"), ("condition", cond.get("type", "")))))
    out.add("kube_deployment_metadata_generation", num((d.get("metadata") or {}).get("generation", 0)))
    out.meta("deployment", d, opts)
    return out.result()


REPLICASET_FAMILIES = (
    Family("kube_replicaset_owner", "gauge", "Information about the ReplicaSet's owner."),
    *meta_families("replicaset", "replicaset"),
)


def render_replicaset(rs: Obj, opts: Options) -> dict[str, bytes]:
    """kube_replicaset_owner for one replicaset."""
    out = _out(rs, "replicaset")
    owners(out, "kube_replicaset_owner", rs, "<none>")
    out.meta("replicaset", rs, opts)
    return out.result()


STATEFULSET_FAMILIES = (
    Family("kube_statefulset_replicas", "gauge", "Number of desired pods for a StatefulSet."),
    Family("kube_statefulset_status_replicas", "gauge", "The number of replicas per StatefulSet."),
    Family("kube_statefulset_status_replicas_ready", "gauge", "The number of ready replicas per StatefulSet."),
    Family("kube_statefulset_status_replicas_current", "gauge", "The number of current replicas per StatefulSet."),
    Family("kube_statefulset_status_replicas_updated", "gauge", "The number of updated replicas per StatefulSet."),
    Family("kube_statefulset_status_current_revision", "gauge",
           "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas)."),
    Family("kube_statefulset_status_update_revision", "gauge",
           "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)"),
    Family("kube_statefulset_status_observed_generation", "gauge",
           "The generation observed by the StatefulSet controller."),
    Family("kube_statefulset_metadata_generation", "gauge",
           "Sequence number representing a specific generation of the desired state for the StatefulSet."),
    *meta_families("statefulset", "statefulset"),
)


def render_statefulset(s: Obj, opts: Options) -> dict[str, bytes]:
    """Replica counts, revisions and generations of one statefulset."""
    spec, st = s.get("spec") or {}, s.get("status") or {}
    out = _out(s, "statefulset")
    out.add("kube_statefulset_replicas", num(spec.get("replicas", 1)))
    out.add("kube_statefulset_status_replicas", num(st.get("replicas", 0)))
    out.add("kube_statefulset_status_replicas_ready", num(st.get("readyReplicas", 0)))
    out.add("kube_statefulset_status_replicas_current", num(st.get("currentReplicas", 0)))
    out.add("kube_statefulset_status_replicas_updated", num(st.get("updatedReplicas", 0)))
    out.add("kube_statefulset_status_current_revision", 1, f'revision="{escape(st.get("currentRevision", ""))}"')
    out.add("kube_statefulset_status_update_revision", 1, f'revision="{escape(st.get("updateRevision", ""))}"')
    out.add("kube_statefulset_status_observed_generation", num(st.get("observedGeneration", 0)))
    out.add("kube_statefulset_metadata_generation", num((s.get("metadata") or {}).get("generation", 0)))
    out.meta("statefulset", s, opts)
    return out.result()


DAEMONSET_FAMILIES = (
    Family("kube_daemonset_status_desired_number_scheduled", "gauge",
           "The number of nodes that should be running the daemon pod."),
    Family("kube_daemonset_status_current_number_scheduled", "gauge",
           "The number of nodes running at least one daemon pod and are supposed to."),
    Family("kube_daemonset_status_number_misscheduled", "gauge",
           "The number of nodes running a daemon pod but are not supposed to."),
    Family("kube_daemonset_status_number_available", "gauge",
           "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running "
           "and available"),
    Family("kube_daemonset_status_updated_number_scheduled", "gauge",
           "The total number of nodes that are running updated daemon pod"),
    Family("kube_daemonset_status_number_ready", "gauge",
           "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running "
           "and ready."),
    *meta_families("daemonset", "daemonset"),
)


def render_daemonset(ds: Obj, opts: Options) -> dict[str, bytes]:
    """Scheduling counts of one daemonset."""
    st = ds.get("status") or {}
    out = _out(ds, "daemonset")
    for family, key in (("desired_number_scheduled", "desiredNumberScheduled"),
                        ("current_number_scheduled", "currentNumberScheduled"),
                        ("number_misscheduled", "numberMisscheduled"), ("number_available", "numberAvailable"),
                        ("updated_number_scheduled", "updatedNumberScheduled"), ("number_ready", "numberReady")):
        out.add(f"kube_daemonset_status_{family}", num(st.get(key, 0)))
    out.meta("daemonset", ds, opts)
    return out.result()


DEPLOYMENT = Kind("deployments", Resource("apps", "v1", "deployments"), DEPLOYMENT_FAMILIES, render_deployment,
                  protobuf="DeploymentList")
REPLICASET = Kind("replicasets", REPLICASETS, REPLICASET_FAMILIES, render_replicaset, protobuf="ReplicaSetList")
STATEFULSET = Kind("statefulsets", Resource("apps", "v1", "statefulsets"), STATEFULSET_FAMILIES, render_statefulset)
DAEMONSET = Kind("daemonsets", Resource("apps", "v1", "daemonsets"), DAEMONSET_FAMILIES, render_daemonset)
