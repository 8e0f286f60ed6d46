"""Resource names and units, as kube-state-metrics labels them (resource="cpu", unit="core")."""

from __future__ import annotations

from exporters.cluster import quantity
from exporters.cluster.allowlist import sanitize


def _extended(name: str) -> bool:
    # An extended resource has a domain outside kubernetes.io, e.g. nvidia.com/gpu.
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def unit_value(name: str, raw: str, *, node: bool = False) -> tuple[str, str, float] | None:
    """(resource label, unit label, value) for one resource quantity, or None when KSM does not export it."""
    if name == "cpu":
        v = quantity.cores(raw)
        return None if v is None else ("cpu", "core", v)
    if name in ("memory", "storage", "ephemeral-storage") or name.startswith(("hugepages-", "attachable-volumes-")):
        unit = "byte"
    elif node and name == "pods":
        unit = "integer"
    elif _extended(name):
        unit = "integer"
    else:
        return None
    val = quantity.value(raw)
    return None if val is None else (sanitize(name), unit, val)
