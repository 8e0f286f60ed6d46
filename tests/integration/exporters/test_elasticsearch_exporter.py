"""The Elasticsearch exporter against real Elasticsearch 8.17 and OpenSearch 2.19 nodes."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.config import ElasticsearchExporterConfig
from exporters.elasticsearch.service import ElasticsearchService
from observe.config import ElasticsearchConfig, ServiceConfig
from observe.service import ServiceHost
from tests.integration.exporters.checks import promtool_check
from tests.peers.base import Peer, free_port

ENGINES = ["elasticsearch", "opensearch"]


async def es(url: str, method: str, path: str, body: object = None, ndjson: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/x-ndjson" if ndjson is not None else "application/json"}
    async with aiohttp.ClientSession() as s, s.request(method, url + path, json=body if ndjson is None else None,
                                                       data=ndjson, headers=headers) as r:
        doc: dict[str, object] = await r.json()
        assert r.status < 300, doc
        return doc


async def serve(url: str, *, data_streams: bool, interval: float = 30.0) -> tuple[ServiceHost, str]:
    registry = CollectorRegistry()
    svc = ElasticsearchService(ElasticsearchExporterConfig(interval_seconds=interval, data_streams=data_streams),  # type: ignore[call-arg]
                               ElasticsearchConfig(url=url), registry)  # type: ignore[call-arg]
    host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
    await host.start()
    for _ in range(100):
        if svc.fetched_at is not None or svc.errors.labels("cluster_health")._value.get() > 0:
            break
        await asyncio.sleep(0.1)
    return host, f"http://127.0.0.1:{host.port}"


async def scrape(base: str) -> tuple[bytes, dict[str, float]]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
        body = await r.read()
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return body, values


# The prometheus-community elasticsearch_exporter names that dashboards know end in _count; promtool's lint
# prefers otherwise, and compatibility wins for exactly these.
COMPATIBLE_NAMES_LINT = {
    f'{name} non-histogram and non-summary metrics should not have "_count" suffix'
    for name in ("elasticsearch_data_stream_docs_count", "elasticsearch_thread_pool_queue_count",
                 "elasticsearch_thread_pool_rejected_count")
}


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Peer:
    """Each engine's session node (a sync fixture: starting a JVM must not run on the event loop)."""
    peer: Peer = request.getfixturevalue(request.param)
    return peer


async def test_health_nodes_and_data_streams_match_the_cluster(engine: Peer) -> None:
    stream = f"logs-observe.exporter{uuid.uuid4().hex[:6]}-default"
    await es(engine.url, "PUT", f"/_index_template/{stream}", {
        "index_patterns": [stream], "data_stream": {}, "priority": 500,
        "template": {"settings": {"number_of_replicas": 0},
                     "mappings": {"properties": {"@timestamp": {"type": "date"}}}}})
    bulk = "".join(f'{{"create":{{}}}}\n{{"@timestamp":"2024-05-01T00:00:00Z","message":"m{i}"}}\n' for i in range(7))
    await es(engine.url, "POST", f"/{stream}/_bulk?refresh=true", ndjson=bulk)
    health = await es(engine.url, "GET", "/_cluster/health")
    host, base = await serve(engine.url, data_streams=True)
    try:
        body, m = await scrape(base)
    finally:
        await host.shutdown()
    assert m["elasticsearch_up"] == 1
    assert m[f'elasticsearch_cluster_health_status{{color="{health["status"]}"}}'] == 1
    assert sum(v for k, v in m.items() if k.startswith("elasticsearch_cluster_health_status")) == 1
    assert m["elasticsearch_cluster_health_number_of_nodes"] == health["number_of_nodes"]
    assert m["elasticsearch_cluster_health_active_shards"] == health["active_shards"]
    assert m["elasticsearch_cluster_health_unassigned_shards"] == health["unassigned_shards"]
    assert m[f'elasticsearch_data_stream_docs_count{{data_stream="{stream}"}}'] == 7
    assert m[f'elasticsearch_data_stream_store_size_bytes{{data_stream="{stream}"}}'] > 0
    heap = [v for k, v in m.items() if k.startswith('elasticsearch_jvm_memory_used_bytes{area="heap",name=')]
    heap_max = [v for k, v in m.items() if k.startswith('elasticsearch_jvm_memory_max_bytes{area="heap",name=')]
    assert len(heap) == 1 and 0 < heap[0] <= heap_max[0]
    assert any(k.startswith('elasticsearch_thread_pool_queue_count{type="write"') for k in m)
    assert any(k.startswith('elasticsearch_thread_pool_rejected_count{type="write"') for k in m)
    assert any(k.startswith("elasticsearch_indices_indexing_index_total{") and v >= 7 for k, v in m.items())
    assert any(k.startswith("elasticsearch_filesystem_data_available_bytes{") and v > 0 for k, v in m.items())
    assert any(k.startswith('elasticsearch_breakers_tripped{breaker="parent"') for k in m)
    await promtool_check(body, COMPATIBLE_NAMES_LINT)


async def test_scrapes_read_the_cache_and_report_its_age(engine: Peer) -> None:
    host, base = await serve(engine.url, data_streams=False, interval=60)
    try:
        _, first = await scrape(base)
        await asyncio.sleep(1.0)
        _, second = await scrape(base)
    finally:
        await host.shutdown()
    assert "elasticsearch_data_stream_docs_count" not in " ".join(first)  # opt-in
    assert second["observe_elasticsearch_stats_age_seconds"] >= first["observe_elasticsearch_stats_age_seconds"] + 0.9
    index_total = [k for k in first if k.startswith("elasticsearch_indices_indexing_index_total")]
    assert index_total and all(first[k] == second[k] for k in index_total)  # the same cached fetch


async def test_unreachable_cluster_reports_down() -> None:
    host, base = await serve(f"http://127.0.0.1:{free_port()}", data_streams=False)
    try:
        _, m = await scrape(base)
    finally:
        await host.shutdown()
    assert m["elasticsearch_up"] == 0
    assert m['observe_elasticsearch_fetch_errors_total{endpoint="cluster_health"}'] >= 1
    assert "observe_elasticsearch_stats_age_seconds" not in m
