"""`observe export elasticsearch` on a real three-node cluster (Elasticsearch, then OpenSearch), scraped by a real
Prometheus that evaluates our rendered rules: per-node stats for all three nodes, the health, and the unassigned
shards when one node is SIGKILLed; the exporter keeps answering through the other nodes, ElasticsearchClusterYellow
fires with its annotation rendered by Prometheus from the live series, and resolves once the node is back."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from observe.render.renderer import render, write
from tests.integration.render.live import _exporter
from tests.peers import prometheus
from tests.peers.base import Peer
from tests.peers.es_cluster import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB = "observe-elasticsearch-exporter"  # values.yaml jobs.elasticsearch_exporter: the rules select on it


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = cast("Cluster", request.getfixturevalue(f"{request.param}_cluster"))
    yield c
    c.stop()  # one engine's JVMs stop before the other's start


def rules(workdir: Path) -> Path:
    """The rendered Elasticsearch rules with every `for:` at 1 s, so a condition fires within seconds."""
    values = workdir / "values.yaml"
    values.write_text(yaml.safe_dump({"rules": {"for_override": "1s", "evaluation_interval": "1s"}}))
    write(render(values), workdir / "render")
    return workdir / "render" / "rules" / "elasticsearch.yaml"


def alert(prom: Peer, name: str) -> dict[str, Any] | None:
    """The alert `name` as Prometheus holds it (pending or firing), or None."""
    return next((a for a in prometheus.api(prom, "alerts")["alerts"] if a["labels"]["alertname"] == name), None)


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {got!r}")


def value(prom: Peer, expr: str) -> float | None:
    result = prometheus.query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def copies_on(c: Cluster, node: int) -> int:
    """Shard copies (primaries and replicas, system indices too) node `node` holds."""
    status, shards = c.call("GET", "/_cat/shards?format=json&h=index,node")
    assert status == 200, shards
    name = str(cast("dict[str, str]", c.nodes[node].extra["settings"])["node.name"])
    return sum(1 for s in shards if s.get("node") == name)


def test_a_killed_node_shows_and_fires_the_yellow_alert(cluster: Cluster, tmp_path: Path,
                                                       prometheus_factory: Callable[..., Peer]) -> None:
    cluster.heal()
    index = f"alerts-{uuid.uuid4().hex[:8]}"
    # Replicas of a lost node's shards wait for it (not rebuilt on the other two): yellow until it is back.
    status, answer = cluster.call("PUT", f"/{index}", {"settings": {
        "number_of_shards": 3, "number_of_replicas": 1, "index.unassigned.node_left.delayed_timeout": "5m"}})
    assert status == 200, answer
    assert cluster.health(wait_for_status="green")["status"] == "green"
    exporter = _exporter("es-exporter", tmp_path, ["export", "elasticsearch"], {
        "elasticsearch": {"urls": cluster.urls, "request_timeout_seconds": 5, "dead_node_backoff_max_seconds": 5},
        "exporters": {"elasticsearch": {"interval_seconds": 1}}})
    try:
        prom = prometheus_factory(targets=[exporter.url.removeprefix("http://")], rule_files=[rules(tmp_path)],
                                  job=JOB)
        heap = f'count(elasticsearch_jvm_memory_used_bytes{{job="{JOB}",area="heap"}})'
        wait(lambda: value(prom, heap) == 3, 60, "heap series of all three nodes")
        assert value(prom, "elasticsearch_cluster_health_number_of_nodes") == 3
        assert value(prom, 'elasticsearch_cluster_health_status{color="green"}') == 1
        assert alert(prom, "ElasticsearchClusterYellow") is None

        victim = 0  # the first URL: where the exporter's first request of each fetch goes
        held = copies_on(cluster, victim)
        assert held > 0
        cluster.kill(victim)
        wait(lambda: value(prom, "elasticsearch_cluster_health_number_of_nodes") == 2, 60, "two nodes")
        wait(lambda: value(prom, heap) == 2, 30, "heap series of the two nodes left")
        unassigned = wait(lambda: value(prom, "elasticsearch_cluster_health_unassigned_shards"), 30,
                          "unassigned shards")
        assert unassigned == held
        fired = wait(lambda: (a := alert(prom, "ElasticsearchClusterYellow")) and a["state"] == "firing" and a, 60,
                     "ElasticsearchClusterYellow firing")
        assert f"{held} unassigned shards" in fired["annotations"]["description"], fired["annotations"]
        assert alert(prom, "ElasticsearchClusterRed") is None
        assert value(prom, "elasticsearch_up") == 1  # the exporter asked the other nodes
        with urllib.request.urlopen(f"{exporter.url}/metrics", timeout=10) as r:
            own = r.read().decode()
        dead = cluster.urls[victim]
        assert f'observe_elasticsearch_client_node_up{{node="{dead}"}} 0.0' in own, own[-3000:]

        cluster.heal()
        wait(lambda: value(prom, 'elasticsearch_cluster_health_status{color="green"}') == 1, 120, "green again")
        wait(lambda: alert(prom, "ElasticsearchClusterYellow") is None, 60, "the alert resolved")
        assert value(prom, heap) == 3
    finally:
        exporter.stop()
