"""Every mapping in one module: labels and json.* conflict-free, each dynamic template installed once."""

from __future__ import annotations

from observe.logs.sinks.elasticsearch.mappings import deadletter_mappings, log_mappings
from observe.merge import deep_merge


def test_log_mappings_keep_labels_and_json_conflict_free() -> None:
    m = log_mappings()
    paths = [next(iter(t.values()))["path_match"] for t in m["dynamic_templates"]]
    assert {"kubernetes.labels.*", "kubernetes.namespace_labels.*", "labels.*", "json.*"} <= set(paths)
    names = [next(iter(t)) for t in m["dynamic_templates"]]
    assert len(names) == len(set(names))
    assert len([p for p in paths if p != "json.*"]) == len({p for p in paths if p != "json.*"}), "one label template per path"
    assert all(next(iter(t.values()))["mapping"]["type"] == "keyword" for t in m["dynamic_templates"])
    props = m["properties"]
    assert props["http"]["properties"]["response"]["properties"]["status_code"] == {"type": "long"}
    # Encoder, enrichment and parser fields merged, not replaced.
    assert set(props["log"]["properties"]) == {"offset", "iostream", "flags", "level", "logger", "file"}
    assert {"ip", "uid", "name"} <= set(props["kubernetes"]["properties"]["pod"]["properties"])
    assert props["kubernetes"]["properties"]["deployment"] == {"properties": {"name": {"type": "keyword", "ignore_above": 1024}}}


def test_deadletter_mappings_are_not_dynamic() -> None:
    assert deadletter_mappings()["dynamic"] is False


def test_deep_merge_merges_objects_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    out = deep_merge(base, {"a": {"c": [2], "e": 3}, "d": {"x": 1}})
    assert out == {"a": {"b": 1, "c": [2], "e": 3}, "d": {"x": 1}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}
