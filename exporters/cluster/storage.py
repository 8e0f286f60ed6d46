"""PersistentVolumeClaim and PersistentVolume families."""

from __future__ import annotations

from exporters.cluster import quantity
from exporters.cluster.family import Family, Kind, Obj, Options, Out, meta_families
from observe.exposition import escape, labels
from observe.kube.reflector import Resource

PVC_FAMILIES = (
    Family("kube_persistentvolumeclaim_info", "gauge", "Information about persistent volume claim."),
    Family("kube_persistentvolumeclaim_status_phase", "gauge",
           "The phase the persistent volume claim is currently in."),
    Family("kube_persistentvolumeclaim_resource_requests_storage_bytes", "gauge",
           "The capacity of storage requested by the persistent volume claim."),
    Family("kube_persistentvolumeclaim_access_mode", "gauge",
           "The access mode(s) specified by the persistent volume claim."),
    *meta_families("persistentvolumeclaim", "persistentvolumeclaim"),
)


def render_pvc(pvc: Obj, opts: Options) -> dict[str, bytes]:
    """Info, phase (Lost/Bound/Pending, 0/1) and requested bytes of one claim."""
    md, spec, st = pvc.get("metadata") or {}, pvc.get("spec") or {}, pvc.get("status") or {}
    out = Out(labels((("namespace", md.get("namespace", "")), ("persistentvolumeclaim", md.get("name", "")))))
    # The beta annotation wins over the field, as in the Kubernetes helpers KSM uses.
    klass = (md.get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class") or spec.get("storageClassName", "")
    out.add("kube_persistentvolumeclaim_info", 1, labels((
        ("storageclass", klass or ""), ("volumename", spec.get("volumeName", "")),
        ("volumemode", spec.get("volumeMode", "")))))
    phase = st.get("phase")
    if phase:
        for p in ("Lost", "Bound", "Pending"):
            out.add("kube_persistentvolumeclaim_status_phase", 1 if p == phase else 0, f'phase="{p}"')
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is not None:
        out.add("kube_persistentvolumeclaim_resource_requests_storage_bytes", quantity.value(storage))
    for mode in spec.get("accessModes") or ():
        out.add("kube_persistentvolumeclaim_access_mode", 1, f'access_mode="{escape(str(mode))}"')
    out.meta("persistentvolumeclaim", pvc, opts)
    return out.result()


PV_FAMILIES = (
    Family("kube_persistentvolume_status_phase", "gauge", "The phase indicates if a volume is available, bound to a "
           "claim, or released by a claim."),
    Family("kube_persistentvolume_capacity_bytes", "gauge", "Persistentvolume capacity in bytes."),
    *meta_families("persistentvolume", "persistentvolume"),
)


def render_pv(pv: Obj, opts: Options) -> dict[str, bytes]:
    """Phase (Pending/Available/Bound/Released/Failed, 0/1) and capacity of one volume."""
    md, spec, st = pv.get("metadata") or {}, pv.get("spec") or {}, pv.get("status") or {}
    out = Out(f'persistentvolume="{escape(md.get("name", ""))}"')
    phase = st.get("phase")
    if phase:
        for p in ("Pending", "Available", "Bound", "Released", "Failed"):
            out.add("kube_persistentvolume_status_phase", 1 if p == phase else 0, f'phase="{p}"')
    storage = (spec.get("capacity") or {}).get("storage")
    if storage is not None:
        out.add("kube_persistentvolume_capacity_bytes", quantity.value(storage))
    out.meta("persistentvolume", pv, opts)
    return out.result()


PVC = Kind("persistentvolumeclaims", Resource("", "v1", "persistentvolumeclaims"), PVC_FAMILIES, render_pvc)
PV = Kind("persistentvolumes", Resource("", "v1", "persistentvolumes", namespaced=False), PV_FAMILIES, render_pv)
