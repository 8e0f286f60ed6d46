"""The sink over several nodes: a node that does not answer hands its pending items to the next one at once; an
HTTP error keeps the backoff; /readyz and the metrics name the node. Stand-in nodes (tests/unit/fake_es_node.py)."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from observe.config import ElasticsearchConfig
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.elasticsearch.config import SinkConfig
from observe.logs.sinks.elasticsearch.request import Item
from observe.logs.sinks.elasticsearch.sink import ElasticsearchSink
from observe.logs.sinks.protocol import Outcome
from tests.peers.base import free_port
from tests.unit.fake_es_node import fake_nodes


def items(n: int) -> list[Item]:
    return [(i, b'{"create":{"_index":"logs-a-default","_id":"k-%d"}}\n{"message":"m %d"}\n' % (i, i), None)
            for i in range(n)]


def make_sink(*urls: str, retry_initial: float, retry_max: float = 60.0) -> tuple[ElasticsearchSink, CollectorRegistry]:
    registry = CollectorRegistry()
    es = ElasticsearchConfig(urls=list(urls), request_timeout_seconds=5)  # type: ignore[call-arg]
    logs = LogsConfig(retry_initial_seconds=retry_initial, retry_max_seconds=retry_max)  # type: ignore[call-arg]
    return ElasticsearchSink(SinkConfig(es, logs), ShipperMetrics(registry)), registry


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def test_a_dead_node_hands_its_items_to_the_live_one_without_waiting() -> None:
    dead = dead_url()
    async with fake_nodes(1) as (live,):
        # A backoff of a minute: only a retry elsewhere at once lets this finish in time.
        sink, registry = make_sink(dead, live.url, retry_initial=60.0)
        outcomes = [Outcome.DELIVERED] * 50
        t0 = time.monotonic()
        try:
            for start in range(0, 50, 10):
                await sink.deliver(items(50)[start:start + 10], outcomes)
        finally:
            await sink.close()
    assert time.monotonic() - t0 < 10
    assert outcomes == [Outcome.DELIVERED] * 50  # as send() starts them; a 409 or a dead letter would change them
    assert sorted(live.docs) == sorted(f"k-{i}" for i in range(50))
    value = registry.get_sample_value
    assert value("observe_shipper_events_acked_total", {"outcome": "delivered"}) == 50
    assert value("observe_shipper_events_retried_total", {"reason": "connection"}) == 10  # the first batch, once
    assert value("observe_shipper_es_node_up", {"node": dead}) == 0
    assert value("observe_shipper_es_node_failures_total", {"node": dead, "reason": "connection"}) == 1
    assert value("observe_shipper_es_node_up", {"node": live.url}) == 1
    assert value("observe_shipper_es_node_requests_total", {"node": live.url}) == 5


async def test_an_http_503_keeps_the_backoff_and_the_node() -> None:
    async with fake_nodes(2) as (a, b):
        a.status = 503
        sink, registry = make_sink(a.url, b.url, retry_initial=0.2, retry_max=0.2)
        outcomes = [Outcome.DELIVERED] * 5
        t0 = time.monotonic()
        try:
            await sink.deliver(items(5), outcomes)
        finally:
            await sink.close()
    assert time.monotonic() - t0 >= 0.1  # waited (half to all of 0.2 s) before the retry
    assert outcomes == [Outcome.DELIVERED] * 5 and len(b.docs) == 5
    assert registry.get_sample_value("observe_shipper_events_retried_total", {"reason": "5xx"}) == 5
    assert all(n.alive for n in sink.conn.pool.nodes)


async def test_every_node_down_waits_and_readyz_names_the_node() -> None:
    urls = [dead_url(), dead_url()]
    sink, _ = make_sink(*urls, retry_initial=0.05, retry_max=0.1)
    sink._setup_done.set()
    task = asyncio.create_task(sink.deliver(items(3), [Outcome.RETRY] * 3))
    try:
        for _ in range(200):
            if sink.ready()[1].startswith("bulk requests failing"):
                break
            await asyncio.sleep(0.01)
        ok, reason = sink.ready()
        assert ok and "bulk requests failing" in reason
        assert any(f"{url}: " in reason for url in urls), reason
        assert not sink.conn.pool.has_usable()
    finally:
        task.cancel()
        await sink.close()
