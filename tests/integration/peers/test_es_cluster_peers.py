"""Three-node Elasticsearch and OpenSearch clusters (tests/peers/es_cluster.py) live through a SIGKILLed master and a
SIGSTOPped node: proved on the real servers, over plain HTTP so one test serves both engines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest

from tests.peers.es_cluster import Cluster

pytestmark = pytest.mark.integration

DOC_IDS = [f"doc-{i}" for i in range(6)]


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = cast("Cluster", request.getfixturevalue(f"{request.param}_cluster"))
    yield c
    # pytest runs the tests of one engine together, even shuffled: its three JVMs stop before the other engine's
    # start, instead of idling on the 2 cores until the module ends (its fixture's own stop() then has nothing to do).
    c.stop()


@pytest.fixture
def whole(cluster: Cluster) -> Cluster:
    """The module's cluster with every node back and green, whatever an earlier test left."""
    cluster.heal()
    return cluster


def ok(answer: tuple[int, Any]) -> Any:
    status, body = answer
    assert 200 <= status < 300, f"{status}: {body}"
    return body


def make_index(c: Cluster) -> str:
    """Three primaries and one replica each, so every node holds two shard copies; DOC_IDS indexed."""
    index = f"cluster-{uuid.uuid4().hex[:8]}"
    # A lost node's replicas wait for it instead of being rebuilt on the other two: yellow until it is back.
    settings = {"number_of_shards": 3, "number_of_replicas": 1, "index.unassigned.node_left.delayed_timeout": "5m"}
    ok(c.call("PUT", f"/{index}", {"settings": settings}))
    for doc_id in DOC_IDS:
        ok(c.call("PUT", f"/{index}/_doc/{doc_id}", {"message": doc_id}))
    ok(c.call("POST", f"/{index}/_refresh"))
    assert c.health(wait_for_status="green", timeout=60)["status"] == "green"
    return index


def ids_in(c: Cluster, index: str, via: int) -> list[str]:
    """Every document id a search through node `via` finds, after checking no shard failed."""
    found = ok(c.call("POST", f"/{index}/_search", {"size": 100, "query": {"match_all": {}}}, via=via))
    assert found["_shards"]["failed"] == 0, found["_shards"]
    return sorted(hit["_id"] for hit in found["hits"]["hits"])


def node_names(c: Cluster, via: int) -> set[str]:
    return {n["name"] for n in ok(c.call("GET", "/_nodes/_all/none", via=via))["nodes"].values()}


def started_shards_on(c: Cluster, index: str, node: int) -> int:
    shards = ok(c.call("GET", f"/_cat/shards/{index}?format=json"))
    return sum(1 for s in shards if s["node"] == c.nodes[node].name and s["state"] == "STARTED")


def test_sigkilled_master_is_replaced_and_the_node_rejoins_with_the_data(whole: Cluster) -> None:
    c = whole
    index = make_index(c)
    old = c.wait_for_master()
    t0 = time.monotonic()
    c.kill(old)
    new = c.wait_for_master(not_node=old, timeout=60)
    elected = time.monotonic() - t0
    others = [i for i in range(len(c.nodes)) if i != old]
    assert new in others and not c.nodes[old].alive()
    health = c.health(wait_for_status="yellow", wait_for_nodes=2, timeout=60)
    assert (health["timed_out"], health["number_of_nodes"], health["status"]) == (False, 2, "yellow")
    # Every primary that was on the dead node has a promoted replica: both survivors serve every document.
    for i in others:
        assert ids_in(c, index, via=i) == DOC_IDS
    t1 = time.monotonic()
    c.restart(old)
    health = c.health(wait_for_status="green", wait_for_nodes=3, timeout=120)
    rejoined = time.monotonic() - t1
    assert (health["timed_out"], health["number_of_nodes"], health["status"]) == (False, 3, "green")
    assert node_names(c, via=old) == {n.name for n in c.nodes}
    assert ids_in(c, index, via=old) == DOC_IDS
    assert started_shards_on(c, index, old) == 2
    print(f"{c.name}: new master after {elected:.1f}s, killed node back and green after {rejoined:.1f}s")


def test_sigstopped_node_is_dropped_and_rejoins_after_sigcont(whole: Cluster) -> None:
    c = whole
    index = make_index(c)
    master = c.wait_for_master()
    victim = next(i for i in range(len(c.nodes)) if i != master)
    t0 = time.monotonic()
    c.pause(victim)
    # The paused JVM keeps its sockets open and answers nothing: only fault detection can drop it.
    health = c.health(wait_for_status="yellow", wait_for_nodes=2, timeout=60, via=master)
    dropped = time.monotonic() - t0
    assert (health["timed_out"], health["number_of_nodes"], health["status"]) == (False, 2, "yellow")
    assert node_names(c, via=master) == {n.name for i, n in enumerate(c.nodes) if i != victim}
    assert c.nodes[victim].alive()
    # The two others take writes while it hangs.
    ok(c.call("PUT", f"/{index}/_doc/while-paused?refresh=true", {"message": "while-paused"}, via=master))
    t1 = time.monotonic()
    c.resume(victim)
    health = c.health(wait_for_status="green", wait_for_nodes=3, timeout=120, via=master)
    rejoined = time.monotonic() - t1
    assert (health["timed_out"], health["number_of_nodes"], health["status"]) == (False, 3, "green")
    assert ids_in(c, index, via=victim) == sorted([*DOC_IDS, "while-paused"])
    assert started_shards_on(c, index, victim) == 2
    print(f"{c.name}: paused node dropped after {dropped:.1f}s, green again {rejoined:.1f}s after SIGCONT")
