"""The probe exporter against targets that attack it: a chunk bomb, a header flood, endless lines, loopback behind an
allowed name, its own port, and names and paths that need encoding. Our own small servers on 127.0.0.1 play the
target; the exporter runs as its own process where its memory is measured."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.config import ProbeExporterConfig, ProbeModuleConfig
from exporters.probe import prober
from exporters.probe.allowlist import TargetPolicy
from exporters.probe.service import ProbeService
from observe.config import KubeConfig, ServiceConfig
from observe.service import ServiceHost
from tests.peers.base import free_port

REPO = Path(__file__).resolve().parents[3]
ZEROS = b"0" * 65536


class Hostile:
    """A raw TCP server answering by request path; it records every request head it receives."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[bytes] = []
        self.sent = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            path = head.split(b" ", 2)[1]
            if path == b"/chunk-bomb":  # one chunk announced as 2 GiB, streamed for as long as the client reads
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80000000\r\n")
                await self._stream(writer, ZEROS)
            elif path == b"/header-flood":  # headers without end, each one new
                writer.write(b"HTTP/1.1 200 OK\r\n")
                i = 0
                while self.sent < 2**31:
                    block = b"".join(b"X-Flood-%d: %s\r\n" % (i + k, b"v" * 200) for k in range(256))
                    i += 256
                    writer.write(block)
                    self.sent += len(block)
                    await writer.drain()
            elif path == b"/long-line":  # a status line that never ends
                writer.write(b"HTTP/1.1 200 ")
                await self._stream(writer, b"x" * 65536)
            elif path == b"/big-length":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n")
                await self._stream(writer, ZEROS)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, block: bytes) -> None:
        while self.sent < 2**31:
            writer.write(block)
            self.sent += len(block)
            await writer.drain()


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    h = Hostile()
    server = await asyncio.start_server(h.handle, "127.0.0.1", 0)
    h.port = server.sockets[0].getsockname()[1]
    yield h
    server.close()


@pytest.fixture
def exporter_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    """`observe export probe` in its own process, allowing 127.0.0.1 and a port given in the config file."""
    port, target_port = free_port(), free_port()
    cfg = tmp_path / "probe.yaml"
    cfg.write_text(f"exporters:\n  probe:\n    discovery: false\n    allow_cidrs: [127.0.0.1/32]\n"
                   f"    allow_ports: [{target_port}]\n    modules:\n      http_2xx: {{timeout_seconds: 20}}\n")
    log = tmp_path / "exporter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "observe", "export", "probe", "--config", str(cfg),
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    yield proc, port, target_port, log
    proc.terminate()
    proc.wait(10)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("exporter did not start")


@pytest.mark.slow
async def test_chunk_bomb_and_header_flood_stay_under_100_mb(
        exporter_process: tuple[subprocess.Popen[bytes], int, int, Path]) -> None:
    proc, port, target_port, log = exporter_process
    h = Hostile()
    server = await asyncio.start_server(h.handle, "127.0.0.1", target_port)
    await wait_up(port)
    try:
        async with aiohttp.ClientSession() as s:
            for path in ("/chunk-bomb", "/header-flood", "/long-line", "/big-length"):
                async with s.get(f"http://127.0.0.1:{port}/probe", params={
                        "target": f"http://127.0.0.1:{target_port}{path}", "module": "http_2xx"}) as r:
                    body = await r.text()
                assert "probe_success 0\n" in body, (path, body)
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                metrics = await r.text()
    finally:
        server.close()
    peak = peak_rss_mb(proc.pid)
    assert peak < 100, f"exporter peak RSS {peak:.0f} MB"
    for reason in ("body_too_large", "too_many_headers", "line_too_long"):
        assert f'observe_probe_failures_total{{reason="{reason}"}}' in metrics, metrics
    assert 'observe_probe_failures_total{reason="body_too_large"} 2.0' in metrics
    assert b'"event.reason":"body_too_large"' in log.read_bytes().replace(b" ", b"")


@pytest.fixture
async def in_process() -> AsyncIterator[tuple[str, ProbeService, int]]:
    """The exporter in this process, allowing the name localhost (not its address) and a few ports."""
    port = free_port()
    config = ProbeExporterConfig(discovery=False, allow_hosts=["localhost"], allow_ports=[80, 443, port],
                                 modules={"http_2xx": ProbeModuleConfig(),  # type: ignore[call-arg]
                                          "tcp_connect": ProbeModuleConfig(prober="tcp")})  # type: ignore[call-arg]
    registry = CollectorRegistry()
    svc = ProbeService(config, KubeConfig(), registry)  # type: ignore[call-arg]
    host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
    await host.start()
    yield f"http://127.0.0.1:{host.port}", svc, port
    await host.shutdown()


async def get(url: str, **params: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url, params=params) as r:
        return r.status, await r.text()


async def test_an_allowed_name_resolving_to_loopback_is_refused(in_process: tuple[str, ProbeService, int]) -> None:
    base, _, port = in_process
    server = await asyncio.start_server(Hostile().handle, "127.0.0.1", port)
    try:
        for target, module in ((f"http://localhost:{port}/", "http_2xx"), (f"http://localhost.:{port}/", "http_2xx"),
                               (f"localhost:{port}", "tcp_connect"), (f"http://LOCALHOST:{port}/", "http_2xx")):
            status, body = await get(f"{base}/probe", target=target, module=module)
            assert status == 403 and "not_allowlisted" in body, (target, body)
    finally:
        server.close()


async def test_the_exporters_own_port_and_unlisted_ports_are_refused(in_process: tuple[str, ProbeService, int]) -> None:
    base, _, _ = in_process
    own = int(base.rsplit(":", 1)[1])
    for target in (f"http://localhost:{own}/metrics", "http://localhost:22/"):
        status, body = await get(f"{base}/probe", target=target, module="http_2xx")
        assert status == 403 and "port_not_allowed" in body, body
    _, metrics = await get(f"{base}/metrics")
    assert 'observe_probe_refused_total{reason="port_not_allowed"} 2.0' in metrics


async def test_a_redirect_to_loopback_behind_an_allowed_name_is_refused(hostile: Hostile,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking allowed name whose DNS answer (or redirect target) is loopback: refused at connect time."""
    async def resolve(host: str, port: int) -> str:
        return "127.0.0.1"

    monkeypatch.setattr(prober, "_resolve", resolve)
    policy = TargetPolicy(["web.example.com"], [], [".svc"], ports=[hostile.port])
    for target in (f"http://web.example.com:{hostile.port}/", f"http://api.shop.svc:{hostile.port}/"):
        with pytest.raises(prober.Refused) as err:
            await prober.run(target, ProbeModuleConfig(), policy, 5)  # type: ignore[call-arg]
        assert err.value.reason == "not_allowlisted"
    assert hostile.requests == []  # nothing was sent there
    # Named by a CIDR rule inside the loopback range, it is allowed.
    named = TargetPolicy(["web.example.com"], ["127.0.0.1/32"], [], ports=[hostile.port])
    result = await prober.run(f"http://web.example.com:{hostile.port}/", ProbeModuleConfig(), named, 5)  # type: ignore[call-arg]
    assert result.success


async def test_host_is_sent_idna_encoded_and_the_path_percent_encoded(hostile: Hostile,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def resolve(host: str, port: int) -> str:
        seen.append(host)
        return "127.0.0.1"

    monkeypatch.setattr(prober, "_resolve", resolve)
    policy = TargetPolicy(["bücher.example", "shop.example"], ["127.0.0.1/32"], [], ports=[hostile.port])
    result = await prober.run(f"http://Bücher.example:{hostile.port}/a b/ü?q=x y&r=%20",
                              ProbeModuleConfig(), policy, 5)  # type: ignore[call-arg]
    assert result.success, result.error
    head = hostile.requests[-1].decode("ascii")
    assert head.startswith("GET /a%20b/%C3%BC?q=x%20y&r=%20 HTTP/1.1\r\n")
    assert f"\r\nHost: xn--bcher-kva.example:{hostile.port}\r\n" in head
    # A trailing dot is checked and connected as the same name.
    await prober.run(f"http://shop.example.:{hostile.port}/", ProbeModuleConfig(), policy, 5)  # type: ignore[call-arg]
    assert seen == ["xn--bcher-kva.example", "shop.example"]
