"""The suite's own spans in the real Jaeger: the shipper's bulk requests against the real Elasticsearch (through
Toxiproxy, so some attempts really fail) and the kit's /metrics scrapes, flushed by SIGTERM."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.logs.shipper_process import ShipperProcess, count, cri_line, wait_for
from tests.peers.base import Peer
from tests.peers.toxiproxy import Toxiproxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICE = "observe-shipper"
PROXY = f"ownspans{os.getpid()}"


def jaeger_spans(peer: Peer, operation: str, start_s: float, end_s: float) -> list[dict[str, Any]]:
    """Every span of `operation` from the shipper service in [start_s, end_s], its tags as a dict."""
    url = (f"{peer.url}/api/traces?service={SERVICE}&operation={operation}&limit=2000"
           f"&start={int(start_s * 1e6)}&end={int(end_s * 1e6)}")
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    out = []
    for t in body.get("data") or []:
        for s in t["spans"]:
            if s["operationName"] == operation:
                out.append({**{tag["key"]: tag["value"] for tag in s.get("tags", [])}, "_start": s["startTime"]})
    return out


@pytest.fixture
def shipper_cleanup(toxiproxy: Toxiproxy) -> Iterator[list[ShipperProcess]]:
    """Kills the shippers a test started and removes its proxy, whatever happened."""
    started: list[ShipperProcess] = []
    yield started
    for sp in started:
        sp.kill()
    toxiproxy.delete_proxy(PROXY)


def test_shipper_bulk_spans_and_scrape_span_reach_jaeger(tmp_path: Path, elasticsearch: Peer, jaeger: Peer,
                                                          toxiproxy: Toxiproxy,
                                                          shipper_cleanup: list[ShipperProcess]) -> None:
    proxy = PROXY
    port = toxiproxy.proxy(proxy, elasticsearch.ports["http"])
    via = f"http://127.0.0.1:{port}"
    name = f"ownspans{os.getpid()}{int(time.time() * 1000) % 100000}"
    sp = ShipperProcess(tmp_path, via, name, retry_initial_seconds=0.2, retry_max_seconds=0.5)
    sp.config["service"]["otlp_endpoint"] = jaeger.extra["otlp_http"]
    sp.config_path.write_text(yaml.safe_dump(sp.config))
    shipper_cleanup.append(sp)
    t0 = time.time()
    sp.start()  # ready: the templates went through the proxy

    scrapes = 0  # every /metrics request this test makes must come back as one span

    def retried() -> float:
        nonlocal scrapes
        scrapes += 1
        return sp.metric("observe_shipper_events_retried_total", reason="connection")

    # Elasticsearch unreachable: the first attempts fail with refused connections and are retried.
    toxiproxy.set_enabled(proxy, False)
    path = sp.logs_dir / "spans.log"
    good = [f"span line {i}" for i in range(200)]
    path.write_bytes(b"".join(cri_line(t) for t in good))
    try:
        wait_for(lambda: retried() >= 2 * len(good), 60, "two failed attempts", sp.log_tail)
    finally:
        toxiproxy.set_enabled(proxy, True)
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) == len(good), 60, "the documents", sp.log_tail)
    # A mapping conflict: the item is rejected, then written to the dead letter by a second request.
    with path.open("ab") as f:
        f.write(b"9999-99-99T99:99:99Z stdout F impossible date\n")
    wait_for(lambda: count(elasticsearch.url, sp.deadletter) == 1, 60, "the dead letter", sp.log_tail)

    with urllib.request.urlopen(f"http://127.0.0.1:{sp.port}/metrics", timeout=5) as r:
        scraped = r.read()
    scrapes += 1
    assert sp.stop() == 0  # SIGTERM: the kit flushes the batched spans before the process exits
    t1 = time.time()

    def ours(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [s for s in spans if s.get("server.address") == via]

    bulk: list[dict[str, Any]] = []

    def all_bulk_spans() -> bool:
        nonlocal bulk
        bulk = ours(jaeger_spans(jaeger, "logs.bulk", t0 - 1, t1 + 1))
        return sum(s["observe.bulk.delivered"] for s in bulk) >= len(good) and \
            sum(s["observe.bulk.deadlettered"] for s in bulk) >= 1
    wait_for(all_bulk_spans, 30, "the bulk spans in Jaeger", lambda: json.dumps(bulk, indent=1)[:3000])

    failed = [s for s in bulk if s.get("error.type") == "connection"]
    assert failed, "no span of a refused connection"
    for s in failed:
        assert s["otel.status_code"] == "ERROR"
        assert s["observe.bulk.retried"] == s["observe.bulk.items"]
        assert "http.response.status_code" not in s
    assert max(s["observe.bulk.attempt"] for s in failed) >= 2

    delivered = [s for s in bulk if s["observe.bulk.delivered"] > 0]
    assert sum(s["observe.bulk.delivered"] for s in delivered) == len(good)
    assert all(s["http.response.status_code"] == 200 and "otel.status_code" not in s for s in delivered)
    assert any(s["observe.bulk.attempt"] >= 2 for s in delivered), "delivered only after the failed attempts"
    assert all(s["observe.bulk.bytes"] > s["observe.bulk.items"] * len("span line 0") for s in delivered)

    rejected = [s for s in bulk if s["observe.bulk.rejected"] > 0]
    assert len(rejected) == 1 and rejected[0]["observe.bulk.rejected"] == 1
    assert rejected[0]["otel.status_code"] == "ERROR" and rejected[0]["http.response.status_code"] == 200
    dead = [s for s in bulk if s["observe.bulk.deadlettered"] > 0]
    assert len(dead) == 1 and dead[0]["observe.bulk.items"] == 1 and dead[0]["observe.bulk.attempt"] == 2
    assert sum(s["observe.bulk.duplicate"] for s in bulk) == 0

    # One span per scrape; the last one's size is what the test read.
    spans = sorted(jaeger_spans(jaeger, "metrics.scrape", t0 - 1, t1 + 1), key=lambda s: s["_start"])
    assert len(spans) == scrapes
    assert spans[-1]["http.response.body.size"] == len(scraped)
    for s in spans:
        assert json.loads(s["observe.service.names"]) == ["shipper"]
        assert s["http.response.status_code"] == 200 and s["url.path"] == "/metrics"
        assert s["observe.openmetrics"] is False
