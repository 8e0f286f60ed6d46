"""The service kit against real peers: Prometheus scrapes it, promtool accepts its metrics, SIGTERM drains."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from observe.config import ServiceConfig
from observe.service import BaseService, ServiceHost
from tests.peers import prometheus

REPO = Path(__file__).resolve().parents[3]


class Toy(BaseService):
    """A service with a counter, a switchable readiness, an extra route and pre-rendered text."""

    name = "toy"

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter("toy_hits", "Hits on /toy.", registry=registry)
        self.ready = True

    def readiness(self) -> tuple[bool, str]:
        return (True, "ok") if self.ready else (False, "dependency unreachable")

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        async def toy(request: web.Request) -> web.Response:
            self.hits.inc()
            return web.Response(text="toy")

        return [web.get("/toy", toy)]

    def exposition(self, openmetrics: bool) -> bytes:
        return b"# HELP toy_rendered Pre-rendered text.\n# TYPE toy_rendered gauge\ntoy_rendered 7\n"


@pytest.fixture
async def kit() -> AsyncIterator[tuple[ServiceHost, Toy, str]]:
    registry = CollectorRegistry()
    toy = Toy(registry)
    host = ServiceHost(ServiceConfig(port=0), [toy], registry)
    await host.start()
    yield host, toy, f"http://127.0.0.1:{host.port}"
    await host.shutdown()


async def test_metrics_health_ready_and_extra_routes(kit: tuple[ServiceHost, Toy, str]) -> None:
    _, toy, base = kit
    async with aiohttp.ClientSession() as s:
        assert (await (await s.get(f"{base}/toy")).text()) == "toy"
        r = await s.get(f"{base}/metrics")
        text = await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
        assert "toy_hits_total 1.0" in text and "toy_rendered 7" in text
        assert 'observe_build_info{version="0.1.0"} 1.0' in text
        assert (await s.get(f"{base}/healthz")).status == 200
        assert (await s.get(f"{base}/readyz")).status == 200
        toy.ready = False
        r = await s.get(f"{base}/readyz")
        assert r.status == 503
        assert (await r.json())["services"]["toy"] == {"ready": False, "reason": "dependency unreachable"}


async def test_openmetrics_when_the_scraper_asks(kit: tuple[ServiceHost, Toy, str]) -> None:
    _, _, base = kit
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        body = await r.text()
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    assert "toy_rendered 7" in body


async def test_promtool_accepts_the_metrics(kit: tuple[ServiceHost, Toy, str]) -> None:
    _, _, base = kit
    async with aiohttp.ClientSession() as s:
        body = await (await s.get(f"{base}/metrics")).read()
    proc = await asyncio.create_subprocess_exec("promtool", "check", "metrics", stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate(body)
    assert proc.returncode == 0, out.decode()


async def test_real_prometheus_scrapes_the_kit(kit: tuple[ServiceHost, Toy, str], prometheus_factory: Any) -> None:
    host, _, _ = kit
    prom = await asyncio.to_thread(prometheus_factory, targets=[f"127.0.0.1:{host.port}"])
    result = await asyncio.to_thread(prometheus.wait_for, prom, 'up{job="observe"} == 1', 30)
    assert result[0]["metric"]["instance"] == f"127.0.0.1:{host.port}"
    ready = await asyncio.to_thread(prometheus.wait_for, prom, 'observe_service_ready{service="toy"}', 30)
    assert ready[0]["value"][1] == "1"


DRAIN_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from prometheus_client import CollectorRegistry
    from observe.config import ServiceConfig
    from observe.service import BaseService, ServiceHost

    class Slow(BaseService):
        name = "slow"
        async def stop(self):
            await asyncio.sleep(float(sys.argv[1]))
            print("drained", flush=True)

    host = ServiceHost(ServiceConfig(port=0, drain_timeout_seconds=float(sys.argv[2])), [Slow()], CollectorRegistry())
    async def main():
        task = asyncio.create_task(host.serve())
        await host.started.wait()
        print("started", flush=True)
        return await task
    sys.exit(asyncio.run(main()))
""")


@pytest.mark.parametrize(("drain_s", "deadline_s", "drained"), [(0.5, 5.0, True), (30.0, 1.0, False)])
def test_sigterm_drains_and_exits_zero_within_the_deadline(drain_s: float, deadline_s: float, drained: bool) -> None:
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, str(drain_s), str(deadline_s)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=deadline_s + 10)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert ("drained" in out) is drained
    assert elapsed < deadline_s + 2
    if not drained:
        assert "drain deadline passed" in out + err
