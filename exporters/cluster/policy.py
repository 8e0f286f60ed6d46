"""HorizontalPodAutoscaler, PodDisruptionBudget and ResourceQuota families."""

from __future__ import annotations

from exporters.cluster import quantity
from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families, num
from observe.exposition import escape, labels
from observe.kube.reflector import Resource


def _out(obj: Obj, noun: str) -> Out:
    md = obj.get("metadata") or {}
    return Out(labels((("namespace", md.get("namespace", "")), (noun, md.get("name", "")))))


HPA_FAMILIES = (
    Family("kube_horizontalpodautoscaler_spec_min_replicas", "gauge",
           "Lower limit for the number of pods that can be set by the autoscaler, default 1."),
    Family("kube_horizontalpodautoscaler_spec_max_replicas", "gauge",
           "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas."),
    Family("kube_horizontalpodautoscaler_status_current_replicas", "gauge",
           "Current number of replicas of pods managed by this autoscaler."),
    Family("kube_horizontalpodautoscaler_status_desired_replicas", "gauge",
           "Desired number of replicas of pods managed by this autoscaler."),
    *meta_families("horizontalpodautoscaler", "horizontalpodautoscaler"),
)


def render_hpa(hpa: Obj, opts: Options) -> dict[str, bytes]:
    """Min/max and current/desired replicas of one autoscaler."""
    spec, st = hpa.get("spec") or {}, hpa.get("status") or {}
    out = _out(hpa, "horizontalpodautoscaler")
    out.add("kube_horizontalpodautoscaler_spec_min_replicas", num(spec.get("minReplicas", 1)))
    out.add("kube_horizontalpodautoscaler_spec_max_replicas", num(spec.get("maxReplicas", 0)))
    out.add("kube_horizontalpodautoscaler_status_current_replicas", num(st.get("currentReplicas", 0)))
    out.add("kube_horizontalpodautoscaler_status_desired_replicas", num(st.get("desiredReplicas", 0)))
    out.meta("horizontalpodautoscaler", hpa, opts)
    return out.result()


PDB_FAMILIES = (
    Family("kube_poddisruptionbudget_status_current_healthy", "gauge", "Current number of healthy pods"),
    Family("kube_poddisruptionbudget_status_desired_healthy", "gauge", "Minimum desired number of healthy pods"),
    Family("kube_poddisruptionbudget_status_expected_pods", "gauge",
           "Total number of pods counted by this disruption budget"),
    *meta_families("poddisruptionbudget", "poddisruptionbudget"),
)


def render_pdb(pdb: Obj, opts: Options) -> dict[str, bytes]:
    """Healthy counts of one disruption budget."""
    st = pdb.get("status") or {}
    out = _out(pdb, "poddisruptionbudget")
    out.add("kube_poddisruptionbudget_status_current_healthy", num(st.get("currentHealthy", 0)))
    out.add("kube_poddisruptionbudget_status_desired_healthy", num(st.get("desiredHealthy", 0)))
    out.add("kube_poddisruptionbudget_status_expected_pods", num(st.get("expectedPods", 0)))
    out.meta("poddisruptionbudget", pdb, opts)
    return out.result()


QUOTA_FAMILIES = (Family("kube_resourcequota", "gauge", "Information about resource quota."),)


def render_quota(rq: Obj, opts: Options) -> dict[str, bytes]:
    """Hard and used amounts of every resource in one quota (MilliValue/1000, as KSM)."""
    st = rq.get("status") or {}
    out = _out(rq, "resourcequota")
    for kind in ("hard", "used"):
        for rname, raw in sorted((st.get(kind) or {}).items()):
            q = quantity.parse(raw)
            if q is not None:
                out.add("kube_resourcequota", quantity.cores(raw), f'resource="{escape(rname)}",type="{kind}"')
    return out.result()


HPA = Kind("horizontalpodautoscalers", Resource("autoscaling", "v2", "horizontalpodautoscalers"), HPA_FAMILIES, render_hpa)
PDB = Kind("poddisruptionbudgets", Resource("policy", "v1", "poddisruptionbudgets"), PDB_FAMILIES, render_pdb)
QUOTA = Kind("resourcequotas", Resource("", "v1", "resourcequotas"), QUOTA_FAMILIES, render_quota)
