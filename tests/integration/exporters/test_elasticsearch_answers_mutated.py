"""The Elasticsearch exporter's renderer on real answers of both engines with values of any JSON type put in
their place (another version's shape, a proxy's): it never raises, and promtool (an oracle we did not write)
accepts every body. A renderer that raised used to end the refresh task: the exporter then served its last stats
with elasticsearch_up 1 for ever. The service test checks the safety net behind the renderer."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.config import ElasticsearchExporterConfig
from exporters.elasticsearch import render
from exporters.elasticsearch.service import NODE_METRICS, ElasticsearchService
from observe.config import ElasticsearchConfig, ServiceConfig
from observe.service import ServiceHost
from tests.integration.exporters.checks import promtool_check, samples
from tests.integration.exporters.test_elasticsearch_exporter import COMPATIBLE_NAMES_LINT, es, scrape
from tests.mutate import mutated
from tests.peers.base import Peer

MUTATIONS = 300
PROMTOOL_EVERY = 30  # promtool is a process per body: every 30th body of each answer, and every body the parser fails


def any_json(rng: random.Random, value: Any, key: Any) -> Any:
    """A JSON value of any type in place of `value`."""
    return rng.choice([
        None, True, False, 0, -1, 1.5, 2**64 - 1, -(2**63), "", "x", 'a"b\\c\nd', "١٢٣", [], [value], {}, {"k": value},
        str(value), [1, "two", None],
    ])


async def answers(url: str) -> dict[str, Any]:
    """The three answers the exporter reads, from a live node."""
    stream = f"logs-observe.mutate{uuid.uuid4().hex[:6]}-default"
    await es(url, "PUT", f"/_index_template/{stream}", {
        "index_patterns": [stream], "data_stream": {}, "priority": 500,
        "template": {"settings": {"number_of_replicas": 0}}})
    await es(url, "POST", f"/{stream}/_bulk?refresh=true",
             ndjson='{"create":{}}\n{"@timestamp":"2024-05-01T00:00:00Z","message":"m"}\n')
    async with aiohttp.ClientSession() as s:
        out = {}
        for name, path in (("health", "/_cluster/health"), ("nodes", f"/_nodes/stats/{NODE_METRICS}"),
                           ("data_streams", "/.ds-*/_stats/docs,store?level=indices&expand_wildcards=all")):
            async with s.get(url + path) as r:
                out[name] = await r.json()
    return out


def rendered(docs: dict[str, Any]) -> bytes:
    text = render.Text()
    render.health(text, docs["health"])
    render.nodes(text, docs["nodes"])
    render.data_streams(text, docs["data_streams"])
    return text.render()


def render_mutations(real: dict[str, Any]) -> list[bytes]:
    """Render MUTATIONS mutated copies of each answer (a rendering that raises fails the test with the mutation);
    the bodies for promtool: every PROMTOOL_EVERY-th, and every one prometheus_client's parser refused."""
    rng = random.Random(20261205)
    out: list[bytes] = []
    for name in real:
        for i in range(MUTATIONS):
            doc, changed = mutated(rng, real[name], any_json)
            try:
                body = rendered({**real, name: doc})
            except Exception as exc:  # the message names the mutation that broke it
                raise AssertionError(f"{name} with {changed} changed: {type(exc).__name__}: {exc}") from exc
            try:
                list(text_string_to_metric_families(body.decode()))
                parsed = True
            except ValueError:
                parsed = False
            if not parsed or i % PROMTOOL_EVERY == 0:
                out.append(body)
    return out


@pytest.fixture(params=["elasticsearch", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Peer:
    peer: Peer = request.getfixturevalue(request.param)
    return peer


async def test_mutated_answers_render_to_text_promtool_accepts(engine: Peer) -> None:
    real = await answers(engine.url)
    base = rendered(real)
    await promtool_check(base, COMPATIBLE_NAMES_LINT)
    # Rendering and parsing 900 bodies is CPU work: done in a thread, so the event loop is not held.
    to_check = await asyncio.to_thread(render_mutations, real)
    for body in to_check:
        await promtool_check(body, COMPATIBLE_NAMES_LINT)
    checked = len(to_check)
    assert checked >= 3 * MUTATIONS // PROMTOOL_EVERY


async def test_a_stats_document_of_another_shape_costs_only_its_figures(engine: Peer) -> None:
    real = await answers(engine.url)
    nodes = dict(real["nodes"]["nodes"])
    first = next(iter(nodes))
    broken = {**real, "nodes": {**real["nodes"], "nodes": {**nodes, "stray": ["not", "a", "node"],
                                                            first: {**nodes[first], "thread_pool": [1, 2]}}}}
    got = samples(rendered(broken))
    want = samples(rendered(real))
    pools = {k for k in want if k.startswith("elasticsearch_thread_pool_")}
    assert pools and not pools & got.keys()  # the thread pools of the node whose pools are a list: left out
    assert {k: v for k, v in want.items() if k not in pools} == got  # everything else, the stray entry adding none
    streams = dict(real["data_streams"]["indices"])
    one = next(k for k in streams if render.data_stream_of(k))
    bad = {**real, "data_streams": {"indices": {**streams, one: {**streams[one], "primaries": {"docs": {"count": "7"}}}}}}
    counts = samples(rendered(bad))
    stream = render.data_stream_of(one)
    assert f'elasticsearch_data_stream_docs_count{{data_stream="{stream}"}}' not in counts  # not a wrong sum
    assert f'elasticsearch_data_stream_store_size_bytes{{data_stream="{stream}"}}' in counts


async def test_a_render_failure_is_counted_and_the_refresh_goes_on(engine: Peer, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    svc = ElasticsearchService(ElasticsearchExporterConfig(interval_seconds=0.2, data_streams=False),  # type: ignore[call-arg]
                               ElasticsearchConfig(url=engine.url), registry)  # type: ignore[call-arg]
    host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
    real_nodes = render.nodes
    failing = {"on": False}

    def nodes(text: render.Text, doc: Any) -> None:
        if failing["on"]:
            raise KeyError("a bug of ours")
        real_nodes(text, doc)

    monkeypatch.setattr(render, "nodes", nodes)
    await host.start()
    base = f"http://127.0.0.1:{host.port}"
    try:
        for _ in range(100):
            if svc.fetched_at is not None:
                break
            await asyncio.sleep(0.05)
        _, before = await scrape(base)
        failing["on"] = True
        for _ in range(100):
            if svc.errors.labels("render")._value.get() >= 2:
                break
            await asyncio.sleep(0.05)
        _, during = await scrape(base)
        failing["on"] = False
        for _ in range(100):
            if svc.up:
                break
            await asyncio.sleep(0.05)
        _, after = await scrape(base)
    finally:
        await host.shutdown()
    assert before["elasticsearch_up"] == 1
    assert during["elasticsearch_up"] == 0 and during['observe_elasticsearch_fetch_errors_total{endpoint="render"}'] >= 2
    kept = {k for k in before if k.startswith("elasticsearch_cluster_health_number_of_nodes")}
    assert kept and all(during[k] == before[k] for k in kept)  # the last good stats, marked stale by up 0
    assert after["elasticsearch_up"] == 1  # the task lived through the failures
    traces = [r for r in caplog.records if r.name == "observe.exporters.elasticsearch" and r.exc_info]
    assert len(traces) == 1  # the trace once, then one line per failed refresh
