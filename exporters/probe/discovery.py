"""Probe targets discovered from Services and Ingresses annotated observe.io/probe: "true", in http_sd format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ANNOTATION = "observe.io/probe"
PATH = "observe.io/probe-path"
MODULE = "observe.io/probe-module"
PORT = "observe.io/probe-port"


def service_targets(svc: Mapping[str, Any], default_module: str) -> list[dict[str, Any]]:
    """One http_sd group per annotated Service: its cluster DNS name and port (the annotated one, else the first)."""
    md = svc.get("metadata") or {}
    ann = md.get("annotations") or {}
    if str(ann.get(ANNOTATION, "")).lower() != "true":
        return []
    ports = (svc.get("spec") or {}).get("ports") or []
    port = ann.get(PORT) or (ports[0].get("port") if ports else None)
    if not port:
        return []
    module = ann.get(MODULE, default_module)
    scheme = "https" if "https" in module else "http"
    host = f"{md.get('name')}.{md.get('namespace')}.svc:{port}"
    target = host if module.startswith("tcp") else f"{scheme}://{host}{ann.get(PATH, '/')}"
    return [{"targets": [target], "labels": {"__param_module": module, "namespace": md.get("namespace", ""),
                                             "service": md.get("name", "")}}]


def ingress_targets(ing: Mapping[str, Any], default_module: str) -> list[dict[str, Any]]:
    """One http_sd group per host of an annotated Ingress; hosts listed under tls are probed over https."""
    md = ing.get("metadata") or {}
    ann = md.get("annotations") or {}
    if str(ann.get(ANNOTATION, "")).lower() != "true":
        return []
    spec = ing.get("spec") or {}
    tls_hosts = {h for t in spec.get("tls") or () for h in t.get("hosts") or ()}
    groups = []
    for rule in spec.get("rules") or ():
        host = rule.get("host")
        if not host:
            continue
        scheme = "https" if host in tls_hosts else "http"
        module = ann.get(MODULE, "https_2xx" if scheme == "https" else default_module)
        groups.append({"targets": [f"{scheme}://{host}{ann.get(PATH, '/')}"],
                       "labels": {"__param_module": module, "namespace": md.get("namespace", ""),
                                  "ingress": md.get("name", "")}})
    return groups


def target_port(target: str) -> int:
    """The port a discovered target connects to (0 when it cannot be read)."""
    try:
        parts = urlsplit(target if "://" in target else "//" + target)
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return 0
