"""Every resource the cluster exporter knows, by its kube-state-metrics name (the --resources values)."""

from __future__ import annotations

from exporters.cluster import jobs, nodes, pods, policy, storage, workloads
from exporters.cluster.family import Family, Kind

KINDS: dict[str, Kind] = {k.name: k for k in (
    pods.KIND, nodes.NODE, workloads.DEPLOYMENT, workloads.REPLICASET, workloads.STATEFULSET, workloads.DAEMONSET,
    jobs.JOB, jobs.CRONJOB, policy.HPA, nodes.NAMESPACE, policy.QUOTA, storage.PVC, storage.PV, policy.PDB,
    nodes.SERVICE,
)}


def all_families() -> list[tuple[str, Family]]:
    """(resource, family) for every family, in exposition order."""
    return [(name, f) for name, kind in KINDS.items() for f in kind.families]
