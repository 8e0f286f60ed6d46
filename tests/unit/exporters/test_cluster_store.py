"""The family store: one tuple of text per object, joins rebuilt only for changed families, pieces in order."""

from __future__ import annotations

from typing import Any

from exporters.cluster.family import Options
from exporters.cluster.kinds import KINDS
from exporters.cluster.store import FamilyStore

DEPLOY = KINDS["deployments"]
NODES = KINDS["nodes"]


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "n"}, "spec": {"replicas": replicas}}


def test_parts_are_header_then_body_per_family_in_order_and_equal_the_exposition() -> None:
    store = FamilyStore([*DEPLOY.families, *NODES.families])
    store.put("n/a", DEPLOY.families, DEPLOY.render(deployment("a", 2), Options()))
    store.put("x", NODES.families, NODES.render({"metadata": {"name": "x"}}, Options()))
    parts = store.parts(False)
    assert b"".join(parts) == store.exposition(False)
    headers = parts[0::2]
    assert all(h.startswith(b"# HELP ") for h in headers)
    names = [h.split()[2].decode() for h in headers]
    order = [f.name for f in (*DEPLOY.families, *NODES.families)]
    assert names == [n for n in order if n in names] and "kube_node_info" in names


def test_only_changed_families_are_joined_again() -> None:
    store = FamilyStore(DEPLOY.families)
    store.put("n/a", DEPLOY.families, DEPLOY.render(deployment("a", 2), Options()))
    store.put("n/b", DEPLOY.families, DEPLOY.render(deployment("b", 3), Options()))
    first = dict(zip(store.parts(False)[0::2], store.parts(False)[1::2], strict=True))
    store.put("n/a", DEPLOY.families, DEPLOY.render(deployment("a", 5), Options()))  # only spec_replicas changes
    second = dict(zip(store.parts(False)[0::2], store.parts(False)[1::2], strict=True))
    changed = [h for h in first if first[h] is not second[h]]
    assert len(changed) == 1 and b"kube_deployment_spec_replicas " in changed[0]
    assert b'deployment="a"} 5\n' in second[changed[0]]


def test_objects_count_and_deletion_restore_the_series_count() -> None:
    store = FamilyStore(DEPLOY.families)
    assert store.objects(DEPLOY.families) == 0
    store.put("n/a", DEPLOY.families, DEPLOY.render(deployment("a", 2), Options()))
    series = store.series
    store.put("n/b", DEPLOY.families, DEPLOY.render(deployment("b", 3), Options()))
    assert store.objects(DEPLOY.families) == 2 and store.series == 2 * series
    store.put("n/b", DEPLOY.families, {})  # e.g. now owned by another shard: no series
    assert store.objects(DEPLOY.families) == 1 and store.series == series
    store.delete("n/a", DEPLOY.families)
    assert store.series == 0 and store.parts(True) == []
