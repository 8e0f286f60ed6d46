"""What the OpenSearch 2.19 peer really does, proved against the running node with opensearch-py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch, TransportError

from tests.peers import base

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(opensearch: base.Peer) -> Iterator[OpenSearch]:
    c = OpenSearch(opensearch.url, timeout=30)
    yield c
    c.close()


def status_of(c: OpenSearch, method: str, path: str, body: dict[str, Any] | None = None) -> int:
    """The HTTP status of a raw request, whether it succeeds or not."""
    try:
        c.transport.perform_request(method, path, body=body)
    except TransportError as exc:
        return int(exc.status_code) if isinstance(exc.status_code, int) else 0
    return 200


def test_client_indexes_documents_and_finds_them_with_search(client: OpenSearch, opensearch: base.Peer) -> None:
    index = unique("peer-docs")
    client.indices.create(index=index, body={"settings": {"number_of_replicas": 0}})
    for i in range(3):
        client.index(index=index, id=str(i), body={"message": f"hello {i}", "n": i})
    client.indices.refresh(index=index)
    resp = client.search(index=index, body={"query": {"match": {"message": "hello"}}, "sort": [{"n": "asc"}]})
    assert [h["_id"] for h in resp["hits"]["hits"]] == ["0", "1", "2"]
    assert client.info()["version"]["number"] == opensearch.extra["version"]


def test_bulk_create_into_data_stream_and_409_on_a_repeated_id(client: OpenSearch) -> None:
    stream = unique("logs-peer")
    client.indices.put_index_template(name=stream, body={
        "index_patterns": [f"{stream}*"], "data_stream": {}, "priority": 500,
        "template": {"settings": {"number_of_replicas": 0}}})
    ops: list[dict[str, Any]] = []
    for i in range(5):
        ops += [{"create": {"_index": stream, "_id": f"doc-{i}"}}, {"@timestamp": "2024-05-01T00:00:00Z", "message": f"line {i}"}]
    resp = client.bulk(body=ops, refresh="true")
    assert not resp["errors"], resp["items"]
    assert client.count(index=stream)["count"] == 5
    again = client.bulk(body=ops[:2], refresh="true")
    assert again["items"][0]["create"]["status"] == 409
    # OpenSearch keeps the data stream APIs in core, so a test can delete what it made.
    streams = client.transport.perform_request("GET", f"/_data_stream/{stream}")
    assert [s["name"] for s in streams["data_streams"]] == [stream]
    client.transport.perform_request("DELETE", f"/_data_stream/{stream}")
    assert status_of(client, "GET", f"/_data_stream/{stream}") == 404


def test_flat_object_works_and_flattened_does_not(client: OpenSearch) -> None:
    index = unique("peer-flat")
    client.indices.create(index=index, body={"settings": {"number_of_replicas": 0},
                                             "mappings": {"properties": {"labels": {"type": "flat_object"}}}})
    client.index(index=index, body={"labels": {"app": "web", "team": "shop"}}, refresh="true")
    hits = client.search(index=index, body={"query": {"term": {"labels.team": "shop"}}})
    assert hits["hits"]["total"]["value"] == 1
    bad = {"mappings": {"properties": {"labels": {"type": "flattened"}}}}
    assert status_of(client, "PUT", f"/{unique('peer-flattened')}", bad) == 400


def test_ism_and_ilm_endpoints_are_absent(client: OpenSearch) -> None:
    # Only the runner's common modules are loaded: Index State Management is a separate plugin.
    assert status_of(client, "GET", "/_plugins/_ism/policies") in (400, 404, 405)
    assert status_of(client, "GET", "/_ilm/status") in (400, 404, 405)


def test_field_caps_and_nodes_stats(client: OpenSearch) -> None:
    index = unique("peer-caps")
    client.indices.create(index=index, body={"settings": {"number_of_replicas": 0},
                                             "mappings": {"properties": {"level": {"type": "keyword"}}}})
    caps = client.field_caps(index=index, fields="level")
    assert set(caps["fields"]["level"]) == {"keyword"}
    stats = client.nodes.stats(metric="thread_pool")
    (node,) = stats["nodes"].values()
    assert "write" in node["thread_pool"]
