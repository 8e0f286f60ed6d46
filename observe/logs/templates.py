"""Index templates and lifecycle policies for the log and dead-letter data streams, for both engines."""

from __future__ import annotations

from typing import Any

from observe.logs.config import LogsConfig

COMPONENT_MAPPINGS = "observe-logs-mappings"
COMPONENT_SETTINGS = "observe-logs-settings"
COMPONENT_DEADLETTER = "observe-deadletter-mappings"
POLICY = "observe-logs"
# Above the built-in `logs-*-*` template (100) of a full Elasticsearch, so our mappings win for our streams.
PRIORITY = 250


def _kw(ignore_above: int = 1024) -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": ignore_above}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


LABEL_TEMPLATES: list[dict[str, Any]] = [
    # Label keys arrive dedotted (`app.kubernetes.io/name` -> `app_kubernetes_io/name`): every value is a keyword.
    {f"observe_{name}": {"path_match": f"{path}.*", "match_mapping_type": "string", "mapping": _kw()}}
    for name, path in (("labels", "kubernetes.labels"), ("namespace_labels", "kubernetes.namespace_labels"))
]

BASE_PROPERTIES: dict[str, Any] = {
    "@timestamp": {"type": "date_nanos"},
    "message": {"type": "text"},
    "log": {"properties": {
        "offset": {"type": "long"},
        "iostream": _kw(),
        "flags": _kw(),
        "level": _kw(),
        "file": {"properties": {"path": _kw(4096)}},
    }},
    "host": {"properties": {"name": _kw()}},
    "event": {"properties": {"timezone": _kw()}},
    "container": {"properties": {"id": _kw(), "name": _kw(), "image": {"properties": {"name": _kw()}}}},
    "kubernetes": {"properties": {
        "namespace": _kw(),
        "pod": {"properties": {"name": _kw(), "uid": _kw()}},
        "node": {"properties": {"name": _kw()}},
    }},
}


def log_mappings() -> dict[str, Any]:
    """Mappings of the log data stream: ours, plus what enrichment and parsers add when they are installed."""
    mappings: dict[str, Any] = {"dynamic_templates": list(LABEL_TEMPLATES), "properties": BASE_PROPERTIES}
    try:
        from observe.logs import enrich
    except ImportError:
        return mappings
    extra = enrich.mapping_additions()
    names = {next(iter(t)) for t in mappings["dynamic_templates"]}
    mappings["dynamic_templates"] += [t for t in extra.get("dynamic_templates", []) if next(iter(t)) not in names]
    mappings["properties"] = _merge(BASE_PROPERTIES, extra.get("properties", {}))
    return mappings


def deadletter_mappings() -> dict[str, Any]:
    """Mappings of the dead-letter stream: nothing in a rejected event can conflict here (dynamic: false)."""
    return {
        "dynamic": False,
        "properties": {
            "@timestamp": {"type": "date_nanos"},
            "message": {"type": "text"},
            "event": {"properties": {"original": {"type": "keyword", "index": False, "doc_values": False}}},
            "error": {"properties": {"type": _kw(), "message": {"type": "text"}}},
            "log": {"properties": {"offset": {"type": "long"}, "file": {"properties": {"path": _kw(4096)}}}},
            "observe": {"properties": {"deadletter": {"properties": {
                "data_stream": _kw(), "status": {"type": "integer"}, "reason": _kw(),
            }}}},
        },
    }


def settings(config: LogsConfig, *, lifecycle: str | None) -> dict[str, Any]:
    """Index settings shared by both streams (the ILM policy only when the server has ILM)."""
    out: dict[str, Any] = {"number_of_replicas": config.number_of_replicas}
    if lifecycle == "ilm":
        out["index.lifecycle.name"] = POLICY
    return out


def index_template(pattern: str, composed_of: list[str]) -> dict[str, Any]:
    """A composable index template that makes `pattern` a data stream."""
    return {
        "index_patterns": [pattern],
        "data_stream": {},
        "composed_of": composed_of,
        "priority": PRIORITY,
        "_meta": {"managed_by": "observe", "description": "observe log shipper"},
    }


def template_name(data_stream: str) -> str:
    """The index template's name for a data stream."""
    return f"observe-{data_stream}"


def ilm_policy(config: LogsConfig) -> dict[str, Any]:
    """The Elasticsearch ILM policy: roll over by age or size, delete after the retention."""
    lc = config.lifecycle
    return {"policy": {
        "phases": {
            "hot": {"actions": {"rollover": {"max_age": lc.rollover_max_age, "max_primary_shard_size": lc.rollover_max_size}}},
            "delete": {"min_age": lc.delete_after, "actions": {"delete": {}}},
        },
        "_meta": {"managed_by": "observe"},
    }}


def ism_policy(config: LogsConfig) -> dict[str, Any]:
    """The OpenSearch ISM policy: the same retention, attached to the streams' backing indices."""
    lc = config.lifecycle
    patterns = [f".ds-{ds}-*" for ds in (config.data_stream, config.deadletter_data_stream)]
    return {"policy": {
        "description": "observe log shipper retention",
        "default_state": "hot",
        "states": [
            {"name": "hot",
             "actions": [{"rollover": {"min_index_age": lc.rollover_max_age, "min_primary_shard_size": lc.rollover_max_size}}],
             "transitions": [{"state_name": "delete", "conditions": {"min_index_age": lc.delete_after}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [{"index_patterns": patterns, "priority": PRIORITY}],
    }}
