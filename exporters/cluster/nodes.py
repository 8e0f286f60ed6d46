"""Node, namespace and service families."""

from __future__ import annotations

from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families
from exporters.cluster.resources import unit_value
from observe.exposition import escape, labels
from observe.kube.reflector import NAMESPACES, NODES, SERVICES

NODE_FAMILIES = (
    Family("kube_node_info", "gauge", "Information about a cluster node."),
    *meta_families("node", "node"),
    Family("kube_node_spec_unschedulable", "gauge", "Whether a node can schedule new pods."),
    Family("kube_node_spec_taint", "gauge", "The taint of a cluster node."),
    Family("kube_node_status_condition", "gauge", "The condition of a cluster node."),
    Family("kube_node_status_allocatable", "gauge",
           "The allocatable for different resources of a node that are available for scheduling."),
    Family("kube_node_status_capacity", "gauge", "The capacity for different resources of a node."),
    Family("kube_node_role", "gauge", "The role of a cluster node."),
)

ROLE_PREFIX = "node-role.kubernetes.io/"


def render_node(node: Obj, opts: Options) -> dict[str, bytes]:
    """Every node family for one node."""
    md = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    out = Out(f'node="{escape(md.get("name", ""))}"')
    internal = next((a.get("address", "") for a in status.get("addresses") or () if a.get("type") == "InternalIP"), "")
    # kube-state-metrics 2.x writes "deprecated" here since nodeInfo.kubeProxyVersion was deprecated.
    out.add("kube_node_info", 1, labels((
        ("kernel_version", info.get("kernelVersion", "")), ("os_image", info.get("osImage", "")),
        ("container_runtime_version", info.get("containerRuntimeVersion", "")),
        ("kubelet_version", info.get("kubeletVersion", "")), ("kubeproxy_version", "deprecated"),
        ("provider_id", spec.get("providerID", "")), ("pod_cidr", spec.get("podCIDR", "")),
        ("system_uuid", info.get("systemUUID", "")), ("internal_ip", internal),
    )))
    out.meta("node", node, opts)
    out.add("kube_node_spec_unschedulable", 1 if spec.get("unschedulable") else 0)
    for taint in spec.get("taints") or ():
        out.add("kube_node_spec_taint", 1, labels((
            ("key", taint.get("key", "")), ("value", taint.get("value", "")), ("effect", taint.get("effect", "")))))
    for cond in status.get("conditions") or ():
        out.bool3("kube_node_status_condition", cond.get("status"), label="status",
                  before=f'condition="{escape(cond.get("type", ""))}"')
    for family, key in (("kube_node_status_allocatable", "allocatable"), ("kube_node_status_capacity", "capacity")):
        for rname, raw in (status.get(key) or {}).items():
            uv = unit_value(rname, raw, node=True)
            if uv is not None:
                out.add(family, uv[2], f'resource="{uv[0]}",unit="{uv[1]}"')
    # As kube-state-metrics: one series per node-role.kubernetes.io/<role> label, and the legacy kubernetes.io/role.
    for key, value in sorted((md.get("labels") or {}).items()):
        role = key[len(ROLE_PREFIX):] if key.startswith(ROLE_PREFIX) else value if key == "kubernetes.io/role" else ""
        if role:
            out.add("kube_node_role", 1, f'role="{escape(role)}"')
    return out.result()


NAMESPACE_FAMILIES = (
    Family("kube_namespace_status_phase", "gauge", "kubernetes namespace status phase."),
    *meta_families("namespace", "namespace"),
)


def render_namespace(ns: Obj, opts: Options) -> dict[str, bytes]:
    """Phase (Active/Terminating, 0/1) and the allowlisted labels of one namespace."""
    md = ns.get("metadata") or {}
    out = Out(f'namespace="{escape(md.get("name", ""))}"')
    phase = (ns.get("status") or {}).get("phase")
    if phase:
        for p in ("Active", "Terminating"):
            out.add("kube_namespace_status_phase", 1 if p == phase else 0, f'phase="{p}"')
    out.meta("namespace", ns, opts)
    return out.result()


SERVICE_FAMILIES = (
    Family("kube_service_info", "gauge", "Information about service."),
    *meta_families("service", "service"),
)


def render_service(svc: Obj, opts: Options) -> dict[str, bytes]:
    """kube_service_info for one service."""
    md = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    out = Out(labels((("namespace", md.get("namespace", "")), ("service", md.get("name", "")), ("uid", md.get("uid", "")))))
    # As kube-state-metrics 2.20: load_balancer_ip is the spec field only (status IPs are not looked at).
    out.add("kube_service_info", 1, labels((
        ("cluster_ip", spec.get("clusterIP", "")), ("external_name", spec.get("externalName", "")),
        ("load_balancer_ip", spec.get("loadBalancerIP", "")),
        ("external_traffic_policy", spec.get("externalTrafficPolicy", "")),
    )))
    out.meta("service", svc, opts)
    return out.result()


NODE = Kind("nodes", NODES, NODE_FAMILIES, render_node)
NAMESPACE = Kind("namespaces", NAMESPACES, NAMESPACE_FAMILIES, render_namespace)
SERVICE = Kind("services", SERVICES, SERVICE_FAMILIES, render_service)
