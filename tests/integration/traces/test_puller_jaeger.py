"""The trace puller against a real Jaeger v2 fed by opentelemetry-sdk with Istio-shaped Bookinfo spans."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from observe.traces.config import TracesConfig
from observe.traces.puller import Puller
from tests.integration.traces.istio_mesh import Mesh, wait_for_spans
from tests.peers import jaeger as jaeger_peer
from tests.peers.base import Peer

pytestmark = pytest.mark.integration

Sample = tuple[str, tuple[tuple[str, str], ...]]


def metrics(puller: Puller, registry: CollectorRegistry | None = None) -> dict[Sample, float]:
    """Every sample the puller publishes (its RED text plus its own counters), keyed by name and labels."""
    text = puller.text.decode()
    if registry is not None:
        from prometheus_client import generate_latest

        text += generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


async def scraped(puller: Puller, registry: CollectorRegistry | None = None) -> dict[Sample, float]:
    """metrics() in a worker thread: parsing a whole exposition held the loop 0.16 s of CPU once."""
    return await asyncio.to_thread(metrics, puller, registry)


def edge(m: dict[Sample, float], name: str, client: str, server: str, **extra: str) -> float:
    """One edge series; without `failed`, the failed and the other requests together."""
    if name.startswith("traces_service_graph_request") and "failed" not in extra:
        return sum(edge(m, name, client, server, failed=f, **extra) for f in ("true", "false"))
    labels = tuple(sorted({"client": client, "server": server, "connection_type": "", **extra}.items()))
    return m.get((name, labels), 0.0)


def make_puller(peer: Peer, mesh: Mesh, tmp_path: Path, registry: CollectorRegistry | None = None,
                **overrides: Any) -> Puller:
    cfg = TracesConfig(jaeger_url=peer.url, services=mesh.services(), settle_seconds=0, overlap_seconds=60,
                       initial_lookback_seconds=600, interval_seconds=0.2, backoff_max_seconds=0.5,
                       state_file=tmp_path / "traces-state.msgpack", **overrides)
    return Puller(cfg, registry or CollectorRegistry())


async def seed(peer: Peer, mesh: Mesh, requests: int, *, start_s: float, fail_every: int = 0,
               hold_ratings: bool = False, spacing_s: float = 0.01) -> list[Any]:
    """Send Bookinfo page views `spacing_s` apart; every `fail_every`-th fails at ratings (40 ms), the rest take
    300 ms there."""
    def send() -> list[Any]:
        held = []
        for i in range(requests):
            fails = fail_every and i % fail_every == 0
            later = mesh.request(start_s + i * spacing_s, ratings_ms=40 if fails else 300,
                                 ratings_status=503 if fails else 200, hold_ratings_server=hold_ratings)
            if later is not None:
                held.append(later)
        mesh.flush()
        return held

    return await asyncio.to_thread(send)  # the SDK's span work would hold the event loop


async def wait_spans(peer: Peer, mesh: Mesh, start_s: float, expected: int) -> None:
    await asyncio.to_thread(wait_for_spans, peer.url, mesh.name("istio-ingressgateway"), start_s - 1, time.time() + 1,
                            expected)


async def test_seeded_bookinfo_traffic_gives_exact_edges_errors_and_buckets(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 30
    await seed(jaeger, mesh, 20, start_s=t0, fail_every=5)
    await wait_spans(jaeger, mesh, t0, 160)
    registry = CollectorRegistry()
    puller = make_puller(jaeger, mesh, tmp_path, registry)
    assert await puller.tick()
    m = await scraped(puller, registry)
    n = mesh.name
    total = "traces_service_graph_request_total"
    ok = {"failed": "false"}
    assert edge(m, total, n("istio-ingressgateway"), n("productpage"), **ok) == 20
    assert edge(m, total, n("productpage"), n("details"), **ok) == 20
    assert edge(m, total, n("productpage"), n("reviews"), **ok) == 20
    assert edge(m, total, n("reviews"), n("ratings"), **ok) == 16
    assert edge(m, total, n("reviews"), n("ratings"), failed="true") == 4
    assert sum(v for (name, _), v in m.items() if name == total) == 80
    failed = "traces_service_graph_request_failed_total"
    assert edge(m, failed, n("reviews"), n("ratings"), failed="true") == 4
    assert not [k for k in m if k[0] == failed and ("server", n("reviews")) in k[1]]
    server = "traces_service_graph_request_server_seconds_bucket"
    assert edge(m, server, n("reviews"), n("ratings"), failed="true", le="0.05") == 4
    assert edge(m, server, n("reviews"), n("ratings"), failed="false", le="0.2") == 0
    assert edge(m, server, n("reviews"), n("ratings"), failed="false", le="0.4") == 16
    client = "traces_service_graph_request_client_seconds_bucket"
    assert edge(m, client, n("productpage"), n("details"), le="0.1", **ok) == 20
    assert not any(name == "traces_service_graph_unpaired_spans_total" for name, _ in m)
    errors = ("traces_span_metrics_calls_total", tuple(sorted({
        "service_name": n("ratings"), "span_name": "ratings.default.svc.cluster.local:9080/*",
        "span_kind": "SPAN_KIND_SERVER", "status_code": "STATUS_CODE_ERROR"}.items())))
    assert m[errors] == 4
    assert m[("observe_traces_spans_total", (("outcome", "accepted"),))] == 160
    await puller.close()


async def test_late_spans_inside_the_overlap_window_are_paired(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 20
    held = await seed(jaeger, mesh, 10, start_s=t0, hold_ratings=True)
    await wait_spans(jaeger, mesh, t0, 70)
    puller = make_puller(jaeger, mesh, tmp_path)
    assert await puller.tick()
    n = mesh.name
    assert edge(await scraped(puller), "traces_service_graph_request_total", n("reviews"), n("ratings")) == 0
    def send_late() -> None:  # the ratings sidecar reports late, with its original start times
        for later in held:
            later.send()
        mesh.flush()

    await asyncio.to_thread(send_late)
    await wait_spans(jaeger, mesh, t0, 80)
    assert await puller.tick()
    m = await scraped(puller)
    assert edge(m, "traces_service_graph_request_total", n("reviews"), n("ratings")) == 10
    assert edge(m, "traces_service_graph_request_total", n("productpage"), n("reviews")) == 10
    assert not any(name == "traces_service_graph_unpaired_spans_total" for name, _ in m)
    await puller.close()


async def test_restart_resumes_from_the_state_file_without_double_counting(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    n = mesh.name
    t0 = time.time() - 20
    await seed(jaeger, mesh, 10, start_s=t0)
    await wait_spans(jaeger, mesh, t0, 80)
    first = make_puller(jaeger, mesh, tmp_path)
    assert await first.tick()
    assert edge(await scraped(first), "traces_service_graph_request_total", n("reviews"), n("ratings")) == 10
    await first.close()

    registry = CollectorRegistry()
    second = make_puller(jaeger, mesh, tmp_path, registry)
    await asyncio.to_thread(second.load_state)  # as the service does: a file read and a msgpack decode
    assert await second.tick()  # re-reads the overlap: everything is a duplicate
    m = await scraped(second, registry)
    assert edge(m, "traces_service_graph_request_total", n("reviews"), n("ratings")) == 0
    assert m[("observe_traces_spans_total", (("outcome", "accepted"),))] == 0
    assert m[("observe_traces_spans_total", (("outcome", "duplicate"),))] >= 80
    t1 = time.time() - 5
    await seed(jaeger, mesh, 5, start_s=t1)
    await wait_spans(jaeger, mesh, t0, 120)
    assert await second.tick()
    m = await scraped(second, registry)
    assert edge(m, "traces_service_graph_request_total", n("reviews"), n("ratings")) == 5
    assert m[("observe_traces_spans_total", (("outcome", "accepted"),))] == 40
    await second.close()


async def test_puller_backs_off_while_jaeger_is_down_and_recovers_after_restart(
        jaeger_private: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger_private.extra["otlp_http"])  # type: ignore[arg-type]
    n = mesh.name
    t0 = time.time() - 20
    await seed(jaeger_private, mesh, 5, start_s=t0)
    await wait_spans(jaeger_private, mesh, t0, 40)
    registry = CollectorRegistry()
    puller = make_puller(jaeger_private, mesh, tmp_path, registry)
    assert await puller.tick()
    await asyncio.to_thread(jaeger_private.stop)
    assert not await puller.tick()
    m = await scraped(puller, registry)
    assert m[("observe_traces_pull_errors_total", (("reason", "connection"),))] == 1
    assert puller.failures == 1 and puller.backoff_until > time.time()
    assert not await puller.tick()  # inside the backoff: no request at all
    assert (await scraped(puller, registry))[("observe_traces_pull_errors_total", (("reason", "connection"),))] == 1

    await asyncio.to_thread(jaeger_peer.restart, jaeger_private)  # the ephemeral store starts empty
    t1 = time.time() - 5
    await seed(jaeger_private, mesh, 5, start_s=t1)
    await wait_spans(jaeger_private, mesh, t1, 40)
    await asyncio.sleep(max(0.0, puller.backoff_until - time.time()) + 0.05)
    assert await puller.tick()
    assert puller.failures == 0
    m = await scraped(puller, registry)
    assert edge(m, "traces_service_graph_request_total", n("reviews"), n("ratings")) == 10
    await puller.close()


async def test_span_names_with_uuids_become_one_series(jaeger: Peer, tmp_path: Path) -> None:
    import uuid

    from opentelemetry.trace import SpanKind

    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 10

    def send() -> None:
        for i in range(20):
            gw = mesh.envoy_span("istio-ingressgateway", SpanKind.CLIENT, None, t0 + i * 0.01, 10, "productpage", 200)
            mesh.envoy_span("productpage", SpanKind.SERVER, gw, t0 + i * 0.01, 9, "productpage", 200,
                            name=f"/cart/{uuid.uuid4()}/checkout")
        mesh.flush()

    await asyncio.to_thread(send)
    await wait_spans(jaeger, mesh, t0, 40)
    puller = make_puller(jaeger, mesh, tmp_path)
    assert await puller.tick()
    m = await scraped(puller)
    series = [(labels, v) for (name, labels), v in m.items()
              if name == "traces_span_metrics_calls_total" and dict(labels)["service_name"] == mesh.name("productpage")]
    assert series == [(tuple(sorted({"service_name": mesh.name("productpage"), "span_name": "/cart/{uuid}/checkout",
                                     "span_kind": "SPAN_KIND_SERVER", "status_code": "STATUS_CODE_UNSET"}.items())),
                       20.0)]
    await puller.close()


async def test_full_answers_split_the_time_range_until_nothing_is_cut_off(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 30

    def send() -> None:
        for i in range(12):
            mesh.request(t0 + i * 1.5)
        mesh.flush()

    await asyncio.to_thread(send)
    await wait_spans(jaeger, mesh, t0, 96)
    registry = CollectorRegistry()
    puller = make_puller(jaeger, mesh, tmp_path, registry, limit=4)
    assert await puller.tick()
    m = await scraped(puller, registry)
    n = mesh.name
    assert edge(m, "traces_service_graph_request_total", n("reviews"), n("ratings")) == 12
    assert m[("observe_traces_spans_total", (("outcome", "accepted"),))] == 96
    assert ("observe_traces_pull_errors_total", (("reason", "truncated"),)) not in m
    await puller.close()


@pytest.mark.parametrize("api", ["v3", "v1"])
async def test_both_query_apis_give_the_same_service_graph(jaeger: Peer, tmp_path: Path, api: str) -> None:
    """Jaeger v2's /api/v3 (OTLP JSON) and /api/traces, each read from the real server, count the same requests,
    failures (the `failed` label), buckets and names; `auto` picks v3 because this server answers it."""
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 30
    await seed(jaeger, mesh, 10, start_s=t0, fail_every=5)
    await wait_spans(jaeger, mesh, t0, 80)
    puller = make_puller(jaeger, mesh, tmp_path, jaeger_api=api)
    assert await puller.tick(), puller.status()
    assert puller.client.api == api
    m = await scraped(puller)
    n = mesh.name
    total = "traces_service_graph_request_total"
    assert edge(m, total, n("reviews"), n("ratings"), failed="false") == 8
    assert edge(m, total, n("reviews"), n("ratings"), failed="true") == 2
    assert edge(m, "traces_service_graph_request_failed_total", n("reviews"), n("ratings"), failed="true") == 2
    assert edge(m, total, n("istio-ingressgateway"), n("productpage"), failed="false") == 10
    assert edge(m, "traces_service_graph_request_server_seconds_bucket", n("reviews"), n("ratings"), failed="false",
                le="0.4") == 8
    calls = ("traces_span_metrics_calls_total", tuple(sorted({
        "service_name": n("ratings"), "span_name": "ratings.default.svc.cluster.local:9080/*",
        "span_kind": "SPAN_KIND_SERVER", "status_code": "STATUS_CODE_ERROR"}.items())))
    assert m[calls] == 2
    assert not any(name == "traces_service_graph_unpaired_spans_total" for name, _ in m)
    await puller.close()
    auto = make_puller(jaeger, mesh, tmp_path / "auto", jaeger_api="auto")
    assert await auto.tick() and auto.client.api == "v3"
    await auto.close()
