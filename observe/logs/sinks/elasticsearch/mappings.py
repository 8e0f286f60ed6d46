"""Every Elasticsearch/OpenSearch mapping the shipper installs, in one place: the log stream's and the dead letters'.

The log stream maps what the encoder writes (ECS basics), what enrichment adds (Kubernetes metadata, labels)
and what parsers add (HTTP, trace ids, json.*), merged with the one deep merge.
"""

from __future__ import annotations

from typing import Any

from observe.merge import deep_merge


def keyword(ignore_above: int = 1024) -> dict[str, Any]:
    """A keyword field that does not index values longer than `ignore_above`."""
    return {"type": "keyword", "ignore_above": ignore_above}


_KW = keyword()

# Labels are shipped dedotted (`app.kubernetes.io/name` -> `app_kubernetes_io/name`) and every value is a
# keyword, so `app` next to `app.kubernetes.io/name`, or "3" next to "three", never conflict. This works the
# same on Elasticsearch and OpenSearch (no `flattened` / `flat_object`, which differ between them).
LABEL_TEMPLATES: list[dict[str, Any]] = [
    {f"{name}_keyword": {"path_match": f"{path}.*", "match_mapping_type": "string", "mapping": keyword()}}
    for name, path in (("kubernetes_labels", "kubernetes.labels"),
                       ("kubernetes_namespace_labels", "kubernetes.namespace_labels"),
                       ("labels", "labels"))
]

# json.* holds whatever applications log: every scalar is a keyword, so `{"status": 200}` from one app and
# `{"status": "ok"}` from another never conflict (an object against a scalar still can; that one dead-letters).
JSON_TEMPLATES: list[dict[str, Any]] = [
    {f"json_{kind}": {"path_match": "json.*", "match_mapping_type": kind, "mapping": keyword()}}
    for kind in ("string", "long", "double", "boolean")
]

# What the encoder writes for every event (observe/logs/encode.py).
EVENT_PROPERTIES: dict[str, Any] = {
    "@timestamp": {"type": "date_nanos"},
    "message": {"type": "text"},
    "log": {"properties": {
        "offset": {"type": "long"},
        "iostream": _KW,
        "flags": _KW,
        "level": _KW,
        "file": {"properties": {"path": keyword(4096)}},
    }},
    "host": {"properties": {"name": _KW}},
    "event": {"properties": {"timezone": _KW}},
}

# What enrichment adds (observe/logs/enrich.py): the pod, its node and workload, the container.
KUBERNETES_PROPERTIES: dict[str, Any] = {
    "kubernetes": {"properties": {
        "namespace": _KW,
        "pod": {"properties": {"name": _KW, "uid": _KW, "ip": _KW}},
        "node": {"properties": {"name": _KW}},
        "container": {"properties": {"restart_count": {"type": "long"}}},
        **{kind: {"properties": {"name": _KW}}
           for kind in ("deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob")},
    }},
    "container": {"properties": {"id": _KW, "name": _KW, "image": {"properties": {"name": _KW}}}},
}

# What the parsers write (observe/logs/parsers.py), so searches and Kibana's saved searches see numbers as
# numbers and never a text/keyword split.
PARSER_PROPERTIES: dict[str, Any] = {
    "tags": _KW,
    "log": {"properties": {"level": _KW, "logger": _KW}},
    "trace": {"properties": {"id": _KW}},
    "span": {"properties": {"id": _KW}},
    "error": {"properties": {"type": _KW, "message": {"type": "text"}, "stack_trace": {"type": "text"}}},
    "http": {"properties": {
        "version": _KW,
        "request": {"properties": {"method": _KW, "bytes": {"type": "long"}, "id": _KW, "referrer": _KW}},
        "response": {"properties": {"status_code": {"type": "long"}, "body": {"properties": {"bytes": {"type": "long"}}}}},
    }},
    "url": {"properties": {"original": _KW, "path": _KW, "query": _KW}},
    "source": {"properties": {"ip": {"type": "ip"}, "address": _KW}},
    "user": {"properties": {"name": _KW}},
    "user_agent": {"properties": {"original": _KW}},
    "event": {"properties": {"duration": {"type": "long"}}},
    "nginx": {"properties": {
        "access": {"properties": {"time": _KW, "request": _KW}},
        "ingress_controller": {"properties": {"upstream": {"properties": {
            "name": _KW, "alternative_name": _KW, "address": _KW,
            "response": {"properties": {"length": _KW, "time": _KW, "status_code": _KW}},
        }}}},
    }},
}


def log_mappings() -> dict[str, Any]:
    """Mappings of the log data streams."""
    properties = deep_merge(deep_merge(EVENT_PROPERTIES, KUBERNETES_PROPERTIES), PARSER_PROPERTIES)
    return {"dynamic_templates": [*LABEL_TEMPLATES, *JSON_TEMPLATES], "properties": properties}


def deadletter_mappings() -> dict[str, Any]:
    """Mappings of the dead-letter stream: nothing in a rejected event can conflict here (dynamic: false)."""
    return {
        "dynamic": False,
        "properties": {
            "@timestamp": {"type": "date_nanos"},
            "message": {"type": "text"},
            "event": {"properties": {"original": {"type": "keyword", "index": False, "doc_values": False}}},
            "error": {"properties": {"type": _KW, "message": {"type": "text"}}},
            "log": {"properties": {"offset": {"type": "long"}, "file": {"properties": {"path": keyword(4096)}}}},
            "observe": {"properties": {"deadletter": {"properties": {
                "data_stream": _KW, "status": {"type": "integer"}, "reason": _KW,
            }}}},
        },
    }
