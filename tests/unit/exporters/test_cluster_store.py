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


def test_added_objects_are_appended_and_any_sequence_serves_what_a_fresh_join_serves() -> None:
    """New objects' pieces are appended to a family's joined text instead of joining it again (each scrape of the
    first LIST used to join every growing family whole). Any mix of adds, updates, deletes and re-adds, scraped at
    any point, serves exactly the text of a store built from the final objects in their order."""
    import random

    rng = random.Random(7)
    for _ in range(200):
        store = FamilyStore(DEPLOY.families)
        objects: dict[str, int] = {}  # key -> replicas, in the store's order
        for _ in range(rng.randrange(1, 40)):
            key = f"n/d{rng.randrange(12)}"
            action = rng.random()
            if action < 0.6:
                if key not in objects:
                    objects[key] = 0
                objects[key] = rng.randrange(4)
                store.put(key, DEPLOY.families, DEPLOY.render(deployment(key[2:], objects[key]), Options()))
            elif action < 0.8:
                objects.pop(key, None)
                store.delete(key, DEPLOY.families)
            else:
                store.parts(False)  # a scrape in between
        fresh = FamilyStore(DEPLOY.families)
        for key, replicas in objects.items():
            fresh.put(key, DEPLOY.families, DEPLOY.render(deployment(key[2:], replicas), Options()))
        assert store.exposition(False) == fresh.exposition(False)
        assert store.series == fresh.series


def test_a_family_grown_by_many_scrapes_stays_in_few_chunks() -> None:
    from exporters.cluster.store import MAX_CHUNKS

    store = FamilyStore(DEPLOY.families)
    for i in range(50):
        store.put(f"n/d{i}", DEPLOY.families, DEPLOY.render(deployment(f"d{i}", i), Options()))
        parts = store.parts(False)
    assert len(parts) <= 2 * len(DEPLOY.families) * MAX_CHUNKS
    assert parts[1].count(b"\n") > 1  # chunks were joined again into one
    assert b"".join(parts) == store.exposition(False)
