"""Index templates and lifecycle policies for the log and dead-letter data streams, for both engines (mappings: mappings.py)."""

from __future__ import annotations

from typing import Any

from observe.logs.config import LogsConfig

COMPONENT_MAPPINGS = "observe-logs-mappings"
COMPONENT_SETTINGS = "observe-logs-settings"
COMPONENT_DEADLETTER = "observe-deadletter-mappings"
POLICY = "observe-logs"
# Above the built-in `logs-*-*` template (100) of a full Elasticsearch, so our mappings win for our streams.
PRIORITY = 250


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
