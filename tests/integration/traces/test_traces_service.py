"""The `traces` service end to end: /metrics passes promtool and carries exemplars of real traces, /graph in a
real headless Chromium, and the suite's own spans arriving in the real Jaeger."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from observe.app.config import Config
from observe.config import ServiceConfig
from observe.service import ServiceHost
from observe.traces.config import TracesConfig
from observe.traces.service import TracesService
from tests.integration.traces.istio_mesh import BOOKINFO, Mesh, wait_for_spans
from tests.peers.base import Peer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
async def served(jaeger: Peer, tmp_path: Path) -> AsyncIterator[tuple[str, Mesh]]:
    """Bookinfo traffic in Jaeger (20 requests, every 5th failing at ratings) and a running traces service."""
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 30

    def send() -> None:  # in a thread: the SDK's span work would hold the event loop
        for i in range(20):
            fails = i % 5 == 0
            mesh.request(t0 + i * 0.01, ratings_ms=40 if fails else 300, ratings_status=503 if fails else 200)
        mesh.flush()

    await asyncio.to_thread(send)
    await asyncio.to_thread(wait_for_spans, jaeger.url, mesh.name("istio-ingressgateway"), t0 - 1, time.time() + 1, 160)
    config = Config(service=ServiceConfig(port=0), traces=TracesConfig(  # type: ignore[call-arg]
        jaeger_url=jaeger.url, services=mesh.services(), settle_seconds=0, interval_seconds=0.5,
        state_file=tmp_path / "state.msgpack"))
    registry = CollectorRegistry()
    host = ServiceHost(config.service, [TracesService(config.traces, registry)], registry)
    await host.start()
    url = f"http://127.0.0.1:{host.port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(url + "/readyz") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the traces service never became ready")
    try:
        yield url, mesh
    finally:
        await host.shutdown()


async def test_metrics_pass_promtool_and_openmetrics_exemplars_point_at_real_traces(
        served: tuple[str, Mesh], jaeger: Peer) -> None:
    url, mesh = served
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/metrics") as resp:
            text = await resp.text()
        async with session.get(url + "/metrics",
                               headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as resp:
            om = await resp.text()
    lint = await asyncio.to_thread(subprocess.run, ["promtool", "check", "metrics"], input=text,
                                   capture_output=True, text=True)
    # The one lint finding is the OpenTelemetry collector's own name, kept for its dashboards (3: lint only).
    findings = {line.strip() for line in (lint.stdout + lint.stderr).splitlines() if line.strip()}
    assert lint.returncode in (0, 3) and findings <= {
        'traces_span_metrics_duration_milliseconds use base unit "seconds" instead of "milliseconds"'}, findings
    assert f'traces_service_graph_request_total{{client="{mesh.name("reviews")}",server="{mesh.name("ratings")}"' in text
    families = {f.name: f for f in await asyncio.to_thread(lambda: list(parse_openmetrics(om)))}
    buckets = [s for s in families["traces_service_graph_request_server_seconds"].samples
               if s.exemplar is not None and s.labels.get("server") == mesh.name("ratings")]
    assert {s.labels["le"] for s in buckets} == {"0.05", "0.4"}
    trace_id = buckets[0].exemplar.labels["trace_id"]
    async with aiohttp.ClientSession() as session, session.get(f"{jaeger.url}/api/traces/{trace_id}") as resp:
        found = (await resp.json())["data"]
    assert any(s["traceID"] == trace_id for t in found for s in t["spans"])


# Playwright starts its driver process from inside its own task and holds the loop for ~150 ms doing it.
@pytest.mark.allow_blocking
async def test_graph_page_in_headless_chromium_shows_the_topology_and_click_details(
        served: tuple[str, Mesh], jaeger: Peer) -> None:
    from playwright.async_api import async_playwright

    url, mesh = served
    n = mesh.name
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 900})
            await page.goto(url + "/graph")
            # Nodes are Istio's canonical services in their namespace (what Kiali shows), not Jaeger's names.
            services = await page.eval_on_selector_all(
                "g.node", "els => els.map(e => [e.dataset.namespace, e.dataset.service])")
            assert sorted(map(tuple, services)) == sorted(("default", w) for w in BOOKINFO)
            edges = await page.eval_on_selector_all("g.edge", "els => els.map(e => [e.dataset.client, e.dataset.server])")
            assert sorted(map(tuple, edges)) == sorted([("istio-ingressgateway", "productpage"),
                                                        ("productpage", "details"),
                                                        ("productpage", "reviews"), ("reviews", "ratings")])
            await page.click('g.node[data-service="ratings"] rect')
            assert await page.text_content("#title") == "ratings (default)"
            assert await page.text_content("#requests") == "20"
            assert await page.text_content("#errors") == "4"
            assert await page.text_content("#error_rate") == "20.0 %"
            href = await page.get_attribute("#search", "href")
            assert href is not None and href.startswith(f"{jaeger.url}/search?service={n('ratings')}")
            await page.click('g.edge[data-server="ratings"] text')
            assert await page.text_content("#title") == "reviews \u2192 ratings"
            assert await page.text_content("#requests") == "20"
            # Exact over the window's spans: 16 requests of ~301 ms and 4 of ~41 ms at the client side.
            p95 = await page.text_content("#p95")
            assert p95 is not None and p95.endswith(" ms") and not p95.startswith("\u2248") and 300 <= float(p95[:-3]) < 320
            trace_link = await page.get_attribute("#trace", "href")
            assert trace_link is not None and trace_link.startswith(f"{jaeger.url}/trace/")
            await page.screenshot(path=str(ARTIFACTS / "traces-graph.png"), full_page=True)
        finally:
            await browser.close()


@pytest.mark.allow_blocking  # Playwright's driver start holds the loop, as above
@pytest.mark.parametrize("width", [1280, 1400, 1920])
async def test_graph_page_fits_the_window_with_filled_panels(served: tuple[str, Mesh], width: int) -> None:
    """No horizontal scroll, no service under the side panel, the edge table inside its panel, and a panel
    whose every label has a value before and after a click; screenshots in test-artifacts/."""
    from playwright.async_api import async_playwright

    url, _ = served
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": 900})
            await page.goto(url + "/graph")
            layout = await page.evaluate("""() => {
                const panel = document.getElementById('panel').getBoundingClientRect();
                const table = document.getElementById('edges').getBoundingClientRect();
                const canvas = document.getElementById('canvas');
                const nodes = [...document.querySelectorAll('g.node rect')].map(r => r.getBoundingClientRect().right);
                // What is on screen, whatever the markup says: a label whose value is empty fails.
                const visible = [...document.querySelectorAll('#panel dd')].filter(d => d.getClientRects().length)
                    .map(d => d.textContent.trim());
                return {pageScroll: document.documentElement.scrollWidth - window.innerWidth,
                        canvasScroll: canvas.scrollWidth - canvas.clientWidth,
                        panelLeft: panel.left, panelRight: panel.right, tableRight: table.right, tableLeft: table.left,
                        rightmostNode: Math.max(...nodes), nodes: nodes.length, values: visible,
                        rows: document.querySelectorAll('#edges tr').length};
            }""")
            await page.screenshot(path=str(ARTIFACTS / f"traces-graph-{width}.png"))
            assert layout["pageScroll"] <= 0 and layout["canvasScroll"] <= 0, layout
            assert layout["nodes"] == 5 and layout["rightmostNode"] <= layout["panelLeft"], layout
            assert layout["panelLeft"] <= layout["tableLeft"] and layout["tableRight"] <= layout["panelRight"], layout
            assert layout["rows"] == 5  # header and the four edges
            assert len(layout["values"]) == 6 and all(layout["values"]), layout  # overview before a click
            assert layout["values"][0] == "5 in 1 namespace"
            await page.click('g.edge[data-server="ratings"] text')
            after = await page.eval_on_selector_all(
                "#panel dd", "els => els.filter(e => e.getClientRects().length).map(e => e.textContent)")
            assert len(after) == 5 and all(v.strip() for v in after), after
            await page.screenshot(path=str(ARTIFACTS / f"traces-graph-{width}-edge.png"))
        finally:
            await browser.close()


def test_own_spans_of_the_pull_service_reach_jaeger(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    cfg = tmp_path / "observe.yaml"
    cfg.write_text(json.dumps({
        "service": {"port": 0, "otlp_endpoint": jaeger.extra["otlp_http"]},
        "traces": {"jaeger_url": jaeger.url, "services": mesh.services(), "interval_seconds": 0.5,
                   "state_file": str(tmp_path / "state.msgpack")},
    }))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "observe"), "traces", "pull", "--config", str(cfg)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "200"})
    try:
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline and "traces.pull" not in names:
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                now_us = int(time.time() * 1e6)
                with urllib.request.urlopen(f"{jaeger.url}/api/traces?service=observe-traces&limit=20"
                                            f"&start={now_us - 600_000_000}&end={now_us}", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                continue
            names = {s["operationName"] for t in body.get("data") or [] for s in t["spans"]}
        assert "traces.pull" in names
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_graph_of_fifty_services_is_readable_in_chromium() -> None:
    from playwright.sync_api import sync_playwright

    from observe.traces.aggregate import RedAggregates
    from observe.traces.graph import build_graph, render_page
    from observe.traces.pairing import Pairer
    from tests.unit.traces.test_graph import T0, call

    agg = RedAggregates()
    pairer = Pairer(agg)
    for i in range(49):
        call(pairer, "gateway" if i < 7 else f"svc-{i % 7:02d}", f"svc-{i:02d}", ms=5 + i, error=i % 9 == 0)
    html = render_page(build_graph(agg, until_s=T0 / 1e6 + 10, window_s=60, jaeger_ui="http://jaeger:16686"))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_content(html)
            boxes = page.eval_on_selector_all(
                "g.node rect", "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return [r.x, r.y, r.width, r.height]; })")
            assert len(boxes) == 50
            for i, (x, y, w, h) in enumerate(boxes):
                assert w >= 0.6 * 190 - 1 and h >= 0.6 * 38 - 1  # scaled to its column, never below 60 %
                for x2, y2, w2, h2 in boxes[i + 1:]:
                    assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "node boxes overlap"
            page.click('g.node[data-service="svc-30"] rect')
            assert page.text_content("#title") == "svc-30"
            page.screenshot(path=str(ARTIFACTS / "traces-graph-50.png"), full_page=True)
        finally:
            browser.close()
