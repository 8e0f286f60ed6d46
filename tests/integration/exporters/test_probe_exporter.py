"""The probe exporter against real local HTTP and HTTPS servers (self-signed certificate) and a closed port."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from exporters.config import ProbeExporterConfig, ProbeModuleConfig
from exporters.probe.service import ProbeService
from observe.config import KubeConfig, ServiceConfig
from observe.service import ServiceHost
from tests.peers.base import free_port

NOT_AFTER = datetime.datetime(2031, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid until NOT_AFTER."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)).not_valid_after(NOT_AFTER)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    yield d / "cert.pem", d / "key.pem"


async def _target_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def teapot(request: web.Request) -> web.Response:
        return web.Response(status=418, text="short and stout")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def escape(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/teapot", teapot)
    app.router.add_get("/hop", hop)
    app.router.add_get("/escape", escape)
    app.router.add_get("/slow", slow)
    return app


@pytest.fixture
async def targets(self_signed: tuple[Path, Path]) -> AsyncIterator[tuple[int, int, int]]:
    """An HTTP and an HTTPS server on loopback, and a closed port: (http_port, https_port, closed_port)."""
    runner = web.AppRunner(await _target_app())
    await runner.setup()
    http_port, https_port = free_port(), free_port()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*self_signed)
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    await web.TCPSite(runner, "127.0.0.1", https_port, ssl_context=ctx).start()
    yield http_port, https_port, free_port()
    await runner.cleanup()


@pytest.fixture
async def exporter(self_signed: tuple[Path, Path], targets: tuple[int, int, int]
                   ) -> AsyncIterator[tuple[str, ProbeService]]:
    """The probe exporter allowing only 127.0.0.1 and the targets' ports, with a module trusting the self-signed CA."""
    config = ProbeExporterConfig(
        allow_cidrs=["127.0.0.1/32"], discovery=False, allow_ports=[80, 443, *targets],
        modules={"http_2xx": ProbeModuleConfig(),  # type: ignore[call-arg]
                 "https_2xx": ProbeModuleConfig(fail_if_not_ssl=True, ca_file=self_signed[0]),  # type: ignore[call-arg]
                 "https_insecure": ProbeModuleConfig(verify_certs=False),  # type: ignore[call-arg]
                 "https_strict": ProbeModuleConfig(),  # type: ignore[call-arg]
                 "tcp_connect": ProbeModuleConfig(prober="tcp"),  # type: ignore[call-arg]
                 "tls_connect": ProbeModuleConfig(prober="tcp", tls=True, ca_file=self_signed[0])},  # type: ignore[call-arg]
    )  # type: ignore[call-arg]
    registry = CollectorRegistry()
    svc = ProbeService(config, KubeConfig(), registry)  # type: ignore[call-arg]
    host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
    await host.start()
    yield f"http://127.0.0.1:{host.port}", svc
    await host.shutdown()


async def probe(base: str, target: str, module: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/probe", params={"target": target, "module": module},
                                                   headers=headers or {}) as r:
        body = await r.text()
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = value
    return r.status, values


async def test_http_success_status_and_phases(exporter: tuple[str, ProbeService], targets: tuple[int, int, int]) -> None:
    status, m = await probe(exporter[0], f"http://127.0.0.1:{targets[0]}/ok", "http_2xx")
    assert status == 200
    assert m["probe_success"] == "1" and m["probe_http_status_code"] == "200"
    assert float(m['probe_http_duration_seconds{phase="processing"}']) > 0
    assert m["probe_http_ssl"] == "0"


async def test_http_non_2xx_fails_and_redirects_are_followed(exporter: tuple[str, ProbeService],
                                                             targets: tuple[int, int, int]) -> None:
    _, m = await probe(exporter[0], f"127.0.0.1:{targets[0]}/teapot", "http_2xx")
    assert m["probe_success"] == "0" and m["probe_http_status_code"] == "418"
    _, m = await probe(exporter[0], f"http://127.0.0.1:{targets[0]}/hop", "http_2xx")
    assert m["probe_success"] == "1" and m["probe_http_redirects"] == "1"


async def test_https_self_signed_reports_cert_expiry(exporter: tuple[str, ProbeService], targets: tuple[int, int, int]) -> None:
    url = f"https://127.0.0.1:{targets[1]}/ok"
    _, m = await probe(exporter[0], url, "https_2xx")
    assert m["probe_success"] == "1" and m["probe_http_ssl"] == "1"
    assert int(m["probe_ssl_earliest_cert_expiry"]) == int(NOT_AFTER.timestamp())
    assert float(m['probe_http_duration_seconds{phase="tls"}']) > 0
    _, m = await probe(exporter[0], url, "https_strict")  # system CAs do not trust it
    assert m["probe_success"] == "0"
    _, m = await probe(exporter[0], url, "https_insecure")
    assert m["probe_success"] == "1" and int(m["probe_ssl_earliest_cert_expiry"]) == int(NOT_AFTER.timestamp())
    _, m = await probe(exporter[0], f"http://127.0.0.1:{targets[0]}/ok", "https_2xx")
    assert m["probe_success"] == "0"  # fail_if_not_ssl


async def test_tcp_open_tls_and_closed_port(exporter: tuple[str, ProbeService], targets: tuple[int, int, int]) -> None:
    _, m = await probe(exporter[0], f"127.0.0.1:{targets[0]}", "tcp_connect")
    assert m["probe_success"] == "1"
    _, m = await probe(exporter[0], f"localhost:{targets[1]}", "tls_connect")
    assert m["probe_success"] == "1" and int(m["probe_ssl_earliest_cert_expiry"]) == int(NOT_AFTER.timestamp())
    closed = targets[2]
    _, m = await probe(exporter[0], f"127.0.0.1:{closed}", "tcp_connect")
    assert m["probe_success"] == "0"
    _, m = await probe(exporter[0], f"http://127.0.0.1:{closed}/", "http_2xx")
    assert m["probe_success"] == "0"


async def test_target_outside_allowlist_is_refused_and_counted(exporter: tuple[str, ProbeService],
                                                               targets: tuple[int, int, int]) -> None:
    base = exporter[0]
    status, _ = await probe(base, "http://169.254.169.254/latest/meta-data/", "http_2xx")
    assert status == 403
    status, _ = await probe(base, "http://10.0.0.1:80/", "http_2xx")
    assert status == 403
    # An allowed target redirecting outside the allowlist is refused too: no connection leaves for it.
    status, _ = await probe(base, f"http://127.0.0.1:{targets[0]}/escape", "http_2xx")
    assert status == 403
    status, _ = await probe(base, "http://127.0.0.1/", "no_such_module")
    assert status == 400
    async with aiohttp.ClientSession() as s, s.get(f"{base}/metrics") as r:
        text = await r.text()
    assert 'observe_probe_refused_total{reason="not_allowlisted"} 3.0' in text
    assert 'observe_probe_refused_total{reason="unknown_module"} 1.0' in text


async def test_scrape_timeout_header_bounds_the_probe(exporter: tuple[str, ProbeService], targets: tuple[int, int, int]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    _, m = await probe(exporter[0], f"http://127.0.0.1:{targets[0]}/slow", "http_2xx",
                       {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
    took = loop.time() - start
    assert m["probe_success"] == "0"
    assert 0.9 < took < 1.5, took  # the module allows 5 s; the header minus 0.5 s wins


async def test_promtool_accepts_probe_and_exporter_metrics(exporter: tuple[str, ProbeService],
                                                            targets: tuple[int, int, int]) -> None:
    base = exporter[0]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/probe", params={"target": f"https://127.0.0.1:{targets[1]}/ok",
                                                  "module": "https_2xx"}) as r:
            probe_body = await r.read()
        async with s.get(f"{base}/metrics") as r:
            metrics_body = await r.read()
    for body in (probe_body, metrics_body):
        proc = await asyncio.create_subprocess_exec("promtool", "check", "metrics", stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate(body)
        assert proc.returncode == 0, out.decode()
