"""Pod metadata for log events, from the Kubernetes API through observe/kube watch caches."""

from __future__ import annotations

from typing import Any

from observe.logs import parsers


def _kw() -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": 1024}


# Labels are shipped dedotted (`app.kubernetes.io/name` -> `app_kubernetes_io/name`) and every value is a
# keyword, so `app` next to `app.kubernetes.io/name`, or "3" next to "three", never conflict. This works the
# same on Elasticsearch and OpenSearch (no `flattened` / `flat_object`, which differ between them).
LABEL_TEMPLATES: list[dict[str, Any]] = [
    {f"{name}_keyword": {"path_match": f"{path}.*", "match_mapping_type": "string", "mapping": _kw()}}
    for name, path in (("kubernetes_labels", "kubernetes.labels"),
                       ("kubernetes_namespace_labels", "kubernetes.namespace_labels"),
                       ("labels", "labels"))
]

PROPERTIES: dict[str, Any] = {
    "kubernetes": {"properties": {
        "namespace": _kw(),
        "pod": {"properties": {"name": _kw(), "uid": _kw(), "ip": _kw()}},
        "node": {"properties": {"name": _kw()}},
        **{kind: {"properties": {"name": _kw()}}
           for kind in ("deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob")},
    }},
    "container": {"properties": {"id": _kw(), "name": _kw(), "image": {"properties": {"name": _kw()}}}},
}


def mapping_additions() -> dict[str, Any]:
    """Dynamic templates and properties for the fields enrichment and parsers add (merged into the index template)."""
    props = dict(PROPERTIES)
    props.update(parsers.PROPERTIES)
    return {"dynamic_templates": [*LABEL_TEMPLATES, *parsers.JSON_TEMPLATES], "properties": props}
