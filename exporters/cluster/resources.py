"""Resource names and units, as kube-state-metrics labels them (resource="cpu", unit="core")."""

from __future__ import annotations

from exporters.cluster import quantity
from exporters.cluster.allowlist import sanitize


def _extended(name: str) -> bool:
    # An extended resource has a domain outside kubernetes.io, e.g. nvidia.com/gpu.
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


# (name, raw, node) -> unit_value's answer. A cluster's containers ask for few distinct quantities ("100m", "64Mi"),
# and parsing one with Decimal cost 2 us, a tenth of rendering a pod; cleared when full, so it stays small.
_SEEN: dict[tuple[str, str, bool], tuple[str, str, float] | None] = {}


def unit_value(name: str, raw: str, *, node: bool = False) -> tuple[str, str, float] | None:
    """(resource label, unit label, value) for one resource quantity, or None when KSM does not export it."""
    key = (name, raw, node)
    try:
        return _SEEN[key]
    except KeyError:
        pass
    except TypeError:  # a value that is not hashable (a JSON list or object): not a quantity
        return _unit_value(name, raw, node)
    if len(_SEEN) >= 10_000:
        _SEEN.clear()
    answer = _SEEN[key] = _unit_value(name, raw, node)
    return answer


def _unit_value(name: str, raw: str, node: bool) -> tuple[str, str, float] | None:
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
