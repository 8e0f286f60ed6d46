"""What the Elasticsearch 8.17 core-node peer really does, proved against the running node with elasticsearch-py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from elasticsearch import ApiError, AsyncElasticsearch

from tests.peers import base
from tests.peers import elasticsearch as es_peer

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def es(elasticsearch: base.Peer) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(elasticsearch.url, request_timeout=30)
    yield client
    await client.close()


async def status_of(client: AsyncElasticsearch, method: str, path: str, body: dict[str, Any] | None = None) -> int:
    """The HTTP status of a raw request, whether it succeeds or not."""
    headers = {"accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    try:
        resp = await client.perform_request(method, path, headers=headers, body=body)
    except ApiError as exc:
        return int(exc.meta.status)
    return int(resp.meta.status)


async def test_client_indexes_documents_and_finds_them_with_search(es: AsyncElasticsearch) -> None:
    index = unique("peer-docs")
    await es.indices.create(index=index, settings={"number_of_replicas": 0})
    for i in range(3):
        await es.index(index=index, id=str(i), document={"message": f"hello {i}", "n": i})
    await es.indices.refresh(index=index)
    resp = await es.search(index=index, query={"match": {"message": "hello"}}, sort=[{"n": "asc"}])
    assert [h["_id"] for h in resp["hits"]["hits"]] == ["0", "1", "2"]
    # elasticsearch-py checks this header on every response; its presence is why the calls above did not raise.
    assert resp.meta.headers["x-elastic-product"] == "Elasticsearch"


async def test_bulk_create_auto_creates_data_stream_and_409s_a_repeated_id(es: AsyncElasticsearch) -> None:
    stream = unique("logs-peer")
    await es.indices.put_index_template(
        name=stream, index_patterns=[f"{stream}*"], data_stream={}, priority=500,
        template={"settings": {"number_of_replicas": 0},
                  "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"}}}})
    ops: list[dict[str, Any]] = []
    for i in range(5):
        ops += [{"create": {"_index": stream, "_id": f"doc-{i}"}},
                {"@timestamp": "2024-05-01T00:00:00Z", "message": f"line {i}"}]
    resp = await es.bulk(operations=ops, refresh="true")
    assert not resp["errors"], resp["items"]
    backing = {item["create"]["_index"] for item in resp["items"]}
    assert len(backing) == 1 and backing.pop().startswith(f".ds-{stream}-")
    count = await es.count(index=stream)
    assert count["count"] == 5
    # The shipper's exactly-once rule rests on this: a create with an existing _id is a 409, not a second copy.
    again = await es.bulk(operations=ops[:2], refresh="true")
    assert again["items"][0]["create"]["status"] == 409
    assert (await es.count(index=stream))["count"] == 5
    rolled = await es.indices.rollover(alias=stream)
    assert rolled["rolled_over"] is True


async def test_field_caps_reports_mapped_types(es: AsyncElasticsearch) -> None:
    index = unique("peer-caps")
    await es.indices.create(index=index, settings={"number_of_replicas": 0},
                            mappings={"properties": {"level": {"type": "keyword"}, "took_ms": {"type": "long"}}})
    caps = await es.field_caps(index=index, fields=["level", "took_ms"])
    assert set(caps["fields"]["level"]) == {"keyword"}
    assert set(caps["fields"]["took_ms"]) == {"long"}


async def test_nodes_stats_reports_the_write_thread_pool(es: AsyncElasticsearch) -> None:
    stats = await es.nodes.stats(metric="thread_pool,jvm")
    (node,) = stats["nodes"].values()
    assert "write" in node["thread_pool"]
    assert node["jvm"]["mem"]["heap_max_in_bytes"] == 512 * 1024 * 1024


async def test_flattened_field_type_works_on_the_core_node(es: AsyncElasticsearch) -> None:
    index = unique("peer-flat")
    await es.indices.create(index=index, settings={"number_of_replicas": 0},
                            mappings={"properties": {"labels": {"type": "flattened"}}})
    await es.index(index=index, document={"labels": {"app": "web", "app.kubernetes.io/name": "shop"}}, refresh="true")
    hits = await es.search(index=index, query={"term": {"labels.app.kubernetes.io/name": "shop"}})
    assert hits["hits"]["total"]["value"] == 1
    mapping = await es.indices.get_mapping(index=index)
    assert mapping[index]["mappings"]["properties"]["labels"]["type"] == "flattened"


async def test_ilm_data_stream_api_and_root_endpoint_are_absent(es: AsyncElasticsearch) -> None:
    # x-pack and modules are not on the classpath: the product must detect these, not assume them.
    policy: dict[str, Any] = {"policy": {"phases": {"hot": {"actions": {}}}}}
    assert await status_of(es, "PUT", f"/_ilm/policy/{unique('p')}", policy) in (400, 404, 405)
    assert await status_of(es, "GET", "/_ilm/status") in (400, 404, 405)
    assert await status_of(es, "GET", "/_data_stream") in (400, 404, 405)
    assert await status_of(es, "GET", "/") == 405
    assert await es.ping() is False
    assert await status_of(es, "GET", "/_plugins/_ism/policies") == 400


# elasticsearch-py encodes each 400-operation body and decodes its answer on the loop (~0.1 s of CPU on a busy
# machine); this test proves the peer's behaviour, not our code, which the guard keeps watching elsewhere.
@pytest.mark.allow_blocking
async def test_throttled_node_answers_429_under_concurrent_bulk(elasticsearch_throttled: base.Peer) -> None:
    index = unique("peer-429")
    client = AsyncElasticsearch(elasticsearch_throttled.url, request_timeout=60, max_retries=0, retry_on_status=())
    try:
        await client.indices.create(index=index, settings={"number_of_replicas": 0, "number_of_shards": 1})
        batches, per_batch = 24, 200
        statuses: list[int] = []

        async def one_bulk(b: int) -> None:
            ops: list[dict[str, Any]] = []
            for i in range(per_batch):
                ops += [{"create": {"_index": index, "_id": f"{b}-{i}"}}, {"message": "x" * 200, "n": i}]
            try:
                resp = await client.bulk(operations=ops)
            except ApiError as exc:  # the whole request rejected
                statuses.extend([int(exc.meta.status)] * per_batch)
                return
            statuses.extend(item["create"]["status"] for item in resp["items"])

        await asyncio.gather(*(one_bulk(b) for b in range(batches)))
        await client.indices.refresh(index=index)
        stored = (await client.count(index=index))["count"]
    finally:
        await client.close()
    rejected = statuses.count(429)
    assert rejected > 0, f"no 429 among {len(statuses)} items"
    # Every item has an outcome: created or rejected, nothing else and nothing missing.
    assert statuses.count(201) == stored
    assert stored + rejected == batches * per_batch


async def put_and_get(client: AsyncElasticsearch, index: str, doc_id: str | None, kept: list[str]) -> dict[str, Any]:
    """Index one document (if doc_id), then read back every document in `kept` by id."""
    if doc_id is not None:
        await client.index(index=index, id=doc_id, document={"message": doc_id})
    await client.cluster.health(index=index, wait_for_status="yellow", timeout="30s")
    return {i: (await client.get(index=index, id=i))["_source"] for i in kept}


async def test_restart_keeps_the_port_and_the_indexed_documents(elasticsearch_disposable: base.Peer) -> None:
    peer = elasticsearch_disposable
    url, index = peer.url, unique("peer-restart")
    # One client throughout, as the shipper would have: it reconnects to the same URL after each restart.
    client = AsyncElasticsearch(url, request_timeout=30)
    try:
        await put_and_get(client, index, "before-stop", ["before-stop"])
        # stop() and restart() wait on the JVM, so they run off the event loop.
        await asyncio.to_thread(peer.stop)
        assert not await asyncio.to_thread(base.http_ok, f"{url}/_cluster/health")
        await asyncio.to_thread(es_peer.restart, peer)
        assert peer.url == url and peer.alive()
        await put_and_get(client, index, "before-kill", ["before-stop", "before-kill"])
        # SIGKILL: an acknowledged write was fsynced to the translog, so it survives a crash too.
        await asyncio.to_thread(peer.kill)
        await asyncio.to_thread(es_peer.restart, peer)
        docs = await put_and_get(client, index, None, ["before-stop", "before-kill"])
    finally:
        await client.close()
    assert docs == {"before-stop": {"message": "before-stop"}, "before-kill": {"message": "before-kill"}}
