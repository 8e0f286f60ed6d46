"""TLS with CA verification, basic auth and API keys: the shipper through our own TLS-terminating, authenticating
reverse proxy in front of the real Elasticsearch node (the test nodes have no security of their own)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.logs.shipper_process import ShipperProcess, count, cri_line, wait_for
from tests.integration.logs.test_shipper_core import assert_exactly_once
from tests.peers.base import Peer, free_port

pytestmark = [pytest.mark.integration]

USER, PASSWORD, API_KEY = "observe", "s3cret-pass", "b2JzZXJ2ZTprZXktMTIz"


@dataclass
class Pki:
    """A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates generated for this run."""
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = _ca("observe test CA")
    other, _ = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(_pem(ca))
    (d / "other-ca.pem").write_bytes(_pem(other))
    (d / "server.pem").write_bytes(_pem(cert))
    (d / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return Pki(ca=d / "ca.pem", cert=d / "server.pem", key=d / "server.key", other_ca=d / "other-ca.pem")


class AuthProxy:
    """Terminates TLS, checks `Authorization` (Basic or ApiKey) like a secured node, forwards to the real node.

    Runs its own event loop on a thread, so the (blocking) test code can drive the shipper process meanwhile.
    """

    def __init__(self, upstream: str, pki: Pki) -> None:
        self.upstream = upstream.rstrip("/")
        self.pki = pki
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.passwords = {USER: PASSWORD}
        self.api_keys = {API_KEY}
        self.forwarded: list[str] = []  # "<scheme> <method> <path>" of every request let through
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="auth-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def _allowed(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme == "ApiKey" and token in self.api_keys:
            return "ApiKey"
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(token).decode().partition(":")
            except ValueError:
                return None
            if self.passwords.get(user) == password:
                return "Basic"
        return None

    async def _forward(self, request: web.Request) -> web.Response:
        scheme = self._allowed(request.headers.get("Authorization", ""))
        if scheme is None:
            self.refused += 1
            body = {"error": {"type": "security_exception", "reason": "unable to authenticate user for REST request"},
                    "status": 401}
            return web.json_response(body, status=401, headers={"WWW-Authenticate": 'Basic realm="security", ApiKey'})
        self.forwarded.append(f"{scheme} {request.method} {request.path}")
        assert self._session is not None
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=await request.read(),
                                         headers=headers) as resp:
            return web.Response(status=resp.status, body=await resp.read(),
                                headers={"Content-Type": resp.headers.get("Content-Type", "application/json")})

    async def _start(self) -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.pki.cert, self.pki.key)
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ctx).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def start(self) -> AuthProxy:
        """Serve on a thread; returns once listening."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def stop(self) -> None:
        """Close the listener and the loop."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def auth_proxy(elasticsearch: Peer, pki: Pki) -> Iterator[AuthProxy]:
    """A secured front (TLS + auth) of the real Elasticsearch node, one per test so its counters are the test's."""
    proxy = AuthProxy(elasticsearch.url, pki).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The shipper processes inherit the environment: start each test without credentials in it."""
    monkeypatch.delenv("OBSERVE_ES_PASSWORD", raising=False)
    monkeypatch.delenv("OBSERVE_ES_API_KEY", raising=False)
    return monkeypatch


def secured_shipper(tmp_path: Path, proxy: AuthProxy, name: str, **es_settings: Any) -> ShipperProcess:
    """A shipper process pointed at the proxy with the given `elasticsearch` settings."""
    sp = ShipperProcess(tmp_path, proxy.url, f"{name}{os.getpid()}{int(time.time() * 1000) % 100000}")
    sp.config["elasticsearch"].update({k: str(v) if isinstance(v, Path) else v for k, v in es_settings.items()})
    sp.config_path.write_text(yaml.safe_dump(sp.config))
    return sp


def checkpoint_offsets(sp: ShipperProcess) -> dict[str, int]:
    """path -> acknowledged offset from the checkpoint file (empty when none was written)."""
    path = sp.workdir / "checkpoint.json"
    if not path.exists():
        return {}
    files = json.loads(path.read_text()).get("files", {})
    return {e["path"]: int(e["offset"]) for e in files.values()}


def write_lines(path: Path, texts: list[str]) -> list[tuple[str, str]]:
    """Append CRI lines; the (path, message) pairs expected in the index."""
    with path.open("ab") as f:
        f.write(b"".join(cri_line(t) for t in texts))
    return [(str(path), t) for t in texts]


def test_ca_file_and_password_from_env_deliver_into_the_real_index(
        tmp_path: Path, auth_proxy: AuthProxy, elasticsearch: Peer, pki: Pki, no_secrets_in_env: pytest.MonkeyPatch,
) -> None:
    no_secrets_in_env.setenv("OBSERVE_ES_PASSWORD", PASSWORD)
    sp = secured_shipper(tmp_path, auth_proxy, "tlsbasic", ca_file=pki.ca, username=USER).start()
    path = sp.logs_dir / "app.log"
    expected = write_lines(path, [f"over tls {i}" for i in range(300)])
    assert_exactly_once(sp, elasticsearch, expected)
    assert auth_proxy.refused == 0
    assert any(f == "Basic POST /_bulk" for f in auth_proxy.forwarded)
    assert {f.split(" ", 1)[0] for f in auth_proxy.forwarded} == {"Basic"}
    wait_for(lambda: checkpoint_offsets(sp).get(str(path)) == path.stat().st_size, 10, "the checkpoint", sp.log_tail)
    assert sp.stop() == 0


def test_api_key_from_a_file_delivers_into_the_real_index(
        tmp_path: Path, auth_proxy: AuthProxy, elasticsearch: Peer, pki: Pki, no_secrets_in_env: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(API_KEY + "\n")  # a mounted Secret often ends with a newline
    sp = secured_shipper(tmp_path, auth_proxy, "tlsapikey", ca_file=pki.ca, api_key_file=key_file).start()
    expected = write_lines(sp.logs_dir / "app.log", [f"with an api key {i}" for i in range(300)])
    assert_exactly_once(sp, elasticsearch, expected)
    assert auth_proxy.refused == 0
    assert {f.split(" ", 1)[0] for f in auth_proxy.forwarded} == {"ApiKey"}
    assert sp.stop() == 0


def test_wrong_ca_refuses_to_connect_and_ships_nothing(
        tmp_path: Path, auth_proxy: AuthProxy, elasticsearch: Peer, pki: Pki, no_secrets_in_env: pytest.MonkeyPatch,
) -> None:
    no_secrets_in_env.setenv("OBSERVE_ES_PASSWORD", PASSWORD)
    sp = secured_shipper(tmp_path, auth_proxy, "tlswrongca", ca_file=pki.other_ca, username=USER)
    sp.start(wait_ready=False)
    write_lines(sp.logs_dir / "app.log", [f"never sent {i}" for i in range(50)])
    wait_for(lambda: "certificate verify failed" in sp.log_tail(), 30, "the TLS error in the log", sp.log_tail)
    status, body = sp.readyz()
    assert status == 503 and body["services"]["shipper"]["ready"] is False
    reason = sp.shipper_reason()
    assert "TLS" in reason and "not trusted" in reason and str(pki.other_ca) in reason, reason
    # The lines are read (and handed to the sink); none may leave.
    wait_for(lambda: sp.metric("observe_shipper_lines_read_total") == 50, 30, "the 50 lines read", sp.log_tail)
    logged = [json.loads(line) for line in sp.log_path.read_text().splitlines() if line.startswith("{")]
    tls_errors = [e for e in logged if e.get("error.type") == "tls"]
    assert tls_errors and all(e["log.level"] == "error" for e in tls_errors)
    assert "unable to get local issuer certificate" in tls_errors[0]["error.message"]
    assert "Traceback" not in sp.log_path.read_text()
    assert auth_proxy.forwarded == [] and auth_proxy.refused == 0  # no request got past the handshake
    assert count(elasticsearch.url, sp.data_stream) == 0
    # The batch waits in the sink (events_shipped counts it as handed over); no bulk request was ever made.
    assert sp.metric("observe_shipper_bulk_duration_seconds_count") == 0
    assert sp.metric("observe_shipper_bulk_items_total") == 0
    assert sp.metric("observe_shipper_events_acked_total") == 0
    assert all(offset == 0 for offset in checkpoint_offsets(sp).values())
    assert sp.stop() == 0


def test_wrong_password_reports_401_and_keeps_the_checkpoint(
        tmp_path: Path, auth_proxy: AuthProxy, elasticsearch: Peer, pki: Pki, no_secrets_in_env: pytest.MonkeyPatch,
) -> None:
    no_secrets_in_env.setenv("OBSERVE_ES_PASSWORD", "not-the-password")
    sp = secured_shipper(tmp_path, auth_proxy, "tlsbadpw", ca_file=pki.ca, username=USER)
    sp.start(wait_ready=False)
    path = sp.logs_dir / "app.log"
    expected = write_lines(path, [f"held back {i}" for i in range(100)])
    wait_for(lambda: "401" in sp.shipper_reason(), 30, "the 401 on /readyz", sp.log_tail)
    reason = sp.shipper_reason()
    assert "HTTP 401" in reason and f"refuses basic auth as '{USER}'" in reason, reason
    assert "security_exception" in reason
    wait_for(lambda: sp.metric("observe_shipper_lines_read_total") == 100, 30, "the 100 lines read", sp.log_tail)
    assert sp.readyz()[0] == 503
    assert auth_proxy.refused > 0 and auth_proxy.forwarded == []
    assert "Traceback" not in sp.log_path.read_text()
    assert sp.metric("observe_shipper_events_acked_total") == 0
    assert count(elasticsearch.url, sp.data_stream) == 0
    assert sp.stop() == 0
    assert all(offset == 0 for offset in checkpoint_offsets(sp).values())

    # The right password: the same lines, from the kept checkpoint, exactly once.
    no_secrets_in_env.setenv("OBSERVE_ES_PASSWORD", PASSWORD)
    sp.start()
    assert_exactly_once(sp, elasticsearch, expected)
    assert sp.stop() == 0


def test_credentials_revoked_mid_stream_hold_the_checkpoint_until_restored(
        tmp_path: Path, auth_proxy: AuthProxy, elasticsearch: Peer, pki: Pki, no_secrets_in_env: pytest.MonkeyPatch,
) -> None:
    no_secrets_in_env.setenv("OBSERVE_ES_PASSWORD", PASSWORD)
    sp = secured_shipper(tmp_path, auth_proxy, "tlsrevoked", ca_file=pki.ca, username=USER).start()
    path = sp.logs_dir / "app.log"
    first = write_lines(path, [f"before revocation {i}" for i in range(100)])
    assert_exactly_once(sp, elasticsearch, first)
    wait_for(lambda: checkpoint_offsets(sp).get(str(path)) == path.stat().st_size, 10, "the checkpoint", sp.log_tail)
    held = path.stat().st_size

    auth_proxy.passwords[USER] = "rotated"  # the server side changed; our Secret is stale
    later = write_lines(path, [f"after revocation {i}" for i in range(100)])
    wait_for(lambda: "HTTP 401" in sp.shipper_reason(), 30, "the 401 on /readyz", sp.log_tail)
    assert "the server refuses our credentials" in sp.log_tail()
    wait_for(lambda: sp.metric("observe_shipper_events_retried_total", reason="auth") >= len(later), 30,
             "every later line retried for auth", sp.log_tail)
    assert count(elasticsearch.url, sp.data_stream) == len(first)
    assert checkpoint_offsets(sp)[str(path)] == held

    auth_proxy.passwords[USER] = PASSWORD
    assert_exactly_once(sp, elasticsearch, first + later)
    wait_for(lambda: checkpoint_offsets(sp).get(str(path)) == path.stat().st_size, 10, "the checkpoint", sp.log_tail)
    assert sp.stop() == 0
