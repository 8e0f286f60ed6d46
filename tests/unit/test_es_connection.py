"""The connection over a node pool: a request moves on from a node that does not answer, an HTTP error does not
mark a node dead, sniffing replaces the list (or keeps it), and the per-node metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from observe.config import ElasticsearchConfig
from observe.es_connection import Connection, HttpError, PoolCollector, explain
from tests.peers.base import free_port
from tests.unit.fake_es_node import fake_nodes


def config(*urls: str, **kw: object) -> ElasticsearchConfig:
    return ElasticsearchConfig(urls=list(urls), request_timeout_seconds=5, **kw)  # type: ignore[arg-type]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_request_moves_on_from_a_node_that_refuses_to_connect() -> None:
    dead = dead_url()
    async with fake_nodes(1) as (live,):
        conn = Connection(config(dead, live.url))
        registry = CollectorRegistry()
        registry.register(PoolCollector(conn, "t_es"))
        try:
            for _ in range(3):
                node, status, _ = await conn.request_node("GET", "/_cluster/health")
                assert (node, status) == (live.url, 200)
        finally:
            await conn.close()
    assert sample(registry, "t_es_node_up", node=dead) == 0
    assert sample(registry, "t_es_node_up", node=live.url) == 1
    assert sample(registry, "t_es_node_failures_total", node=dead, reason="connection") == 1  # rests, not retried
    assert sample(registry, "t_es_node_failures_total", node=dead, reason="timeout") == 0
    assert sample(registry, "t_es_node_requests_total", node=live.url) == 3


async def test_an_http_error_is_an_answer_not_a_dead_node() -> None:
    async with fake_nodes(2) as (a, b):
        a.status = 503
        conn = Connection(config(a.url, b.url))
        try:
            answers = [await conn.request_node("GET", "/_cluster/health") for _ in range(2)]
        finally:
            await conn.close()
    assert [(n, s) for n, s, _ in answers] == [(a.url, 503), (b.url, 200)]
    assert all(node.alive for node in conn.pool.nodes)


async def test_every_node_down_raises_the_last_error_naming_its_node() -> None:
    urls = [dead_url(), dead_url()]
    conn = Connection(config(*urls))
    try:
        with pytest.raises(OSError) as err:
            await conn.request("GET", "/")
    finally:
        await conn.close()
    assert not any(n.alive for n in conn.pool.nodes)
    assert explain(err.value, conn.config)[1].startswith(urls[1] + ": ")


async def test_put_names_the_node_that_refused() -> None:
    async with fake_nodes(1) as (node,):
        node.status = 401
        conn = Connection(config(node.url, username="observe"))
        try:
            with pytest.raises(HttpError) as err:
                await conn.put("/_index_template/x", {})
        finally:
            await conn.close()
    assert err.value.node == node.url
    assert f"HTTP 401: the server ({node.url}) refuses basic auth as 'observe'" in explain(err.value, conn.config)[1]


async def test_sniff_replaces_the_list_with_the_published_nodes() -> None:
    async with fake_nodes(2) as (seed, other):
        seed.nodes_answer = lambda node: {"nodes": {
            "a": {"roles": ["data"], "http": {"publish_address": "localhost/" + node.url.removeprefix("http://")}},
            "b": {"roles": ["data", "ingest"], "http": {"publish_address": other.url.removeprefix("http://")}},
            "m": {"roles": ["master"], "http": {"publish_address": "10.9.9.9:9200"}}}}
        conn = Connection(config(seed.url))
        registry = CollectorRegistry()
        registry.register(PoolCollector(conn, "t_es"))
        try:
            got = await conn.sniff()
        finally:
            await conn.close()
    localhost = "http://localhost:" + seed.url.rsplit(":", 1)[1]
    assert got == [localhost, other.url]
    assert conn.pool.urls() == [localhost, other.url]
    assert sample(registry, "t_es_sniffs_total", outcome="ok") == 1


async def test_an_empty_or_failed_sniff_keeps_the_list() -> None:
    async with fake_nodes(1) as (seed,):
        conn = Connection(config(seed.url))
        try:
            seed.nodes_answer = lambda node: {"nodes": {}}
            assert await conn.sniff() is None
            seed.status = 500
            assert await conn.sniff() is None
        finally:
            await conn.close()
    assert conn.pool.urls() == [seed.url]
    assert conn.sniffs == {"ok": 0, "empty": 1, "error": 1}


async def test_with_every_sniffed_node_dead_the_seeds_come_back() -> None:
    async with fake_nodes(1) as (seed,):
        stale = dead_url()
        seed.nodes_answer = lambda node: {"nodes": {"x": {"http": {"publish_address": stale.removeprefix("http://")}}}}
        conn = Connection(config(seed.url))
        try:
            assert await conn.sniff() == [stale]
            with pytest.raises(OSError):
                await conn.request("GET", "/")  # the only node in the list is gone (say, a pod's old IP)
            seed.nodes_answer = lambda node: {"nodes": {"y": {"http": {
                "publish_address": node.url.removeprefix("http://")}}}}
            assert await conn.sniff() == [seed.url]  # asked through the seed
        finally:
            await conn.close()
    assert conn.pool.urls() == [seed.url]


async def test_sniffing_starts_with_the_session_and_runs_on_failure() -> None:
    async with fake_nodes(1) as (seed,):
        dead = dead_url()
        conn = Connection(config(dead, seed.url, sniff=True, sniff_interval_seconds=3600, dead_node_backoff_seconds=0.05))
        try:
            await conn.request("GET", "/_cluster/health")  # the dead node fails first: a sniff is due
            for _ in range(100):
                if conn.pool.urls() == [seed.url]:
                    break
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
    assert conn.pool.urls() == [seed.url]
    assert seed.paths.count("/_nodes/http") >= 1
