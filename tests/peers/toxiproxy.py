"""Toxiproxy built from the Go module proxy: real TCP proxies that inject real network faults."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers import gobuild
from tests.peers.base import Peer, PeerError, free_port, http_ok, start_process, wait_ready

VERSION = "v2.12.0"
INSTALL_ORDER = 20

MODULE = "github.com/Shopify/toxiproxy/v2"


def install() -> None:
    """Build the toxiproxy server (idempotent: seconds when cached)."""
    binary()


def binary() -> Path:
    """The toxiproxy server binary (upstream names it `server`), built once per version."""
    return gobuild.build("toxiproxy", VERSION, f"{MODULE}/cmd/server", module=MODULE, binary="toxiproxy-server",
                         ldflags=[f"-X {MODULE}.Version={VERSION}"])


def start(workdir: Path) -> Peer:
    """A toxiproxy server whose API listens on a free loopback port."""
    install()
    port = free_port()
    # Its default level logs every byte-pump event (trace); info keeps proxy and toxic changes.
    peer = start_process("toxiproxy", [binary(), "-host", "127.0.0.1", "-port", str(port)], workdir,
                         env={"LOG_LEVEL": "info"})
    peer.url = f"http://127.0.0.1:{port}"
    peer.ports = {"api": port}
    return wait_ready(peer, lambda: http_ok(f"{peer.url}/version"), timeout=30)


class Toxiproxy:
    """A thin client for the toxiproxy HTTP API."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.peer.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            raise PeerError(f"toxiproxy {method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw.strip() else None

    def proxy(self, name: str, upstream_port: int) -> int:
        """Create (or replace) a proxy to 127.0.0.1:upstream_port; returns the port it listens on."""
        self.delete_proxy(name)
        created = self._call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0",
                                                  "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})
        return int(str(created["listen"]).rsplit(":", 1)[1])

    def delete_proxy(self, name: str) -> None:
        """Remove a proxy if it exists."""
        try:
            self._call("DELETE", f"/proxies/{name}")
        except PeerError as exc:
            if "404" not in str(exc):
                raise

    def add_toxic(self, proxy: str, toxic_type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: int) -> str:
        """Add a toxic (timeout, reset_peer, bandwidth, latency, ...); returns its name."""
        toxic_name = name or f"{toxic_type}_{stream}"
        self._call("POST", f"/proxies/{proxy}/toxics", {"name": toxic_name, "type": toxic_type, "stream": stream,
                                                         "toxicity": toxicity, "attributes": attributes})
        return toxic_name

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove one toxic from a proxy."""
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled: connections are refused, like a dead upstream)."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def reset(self) -> None:
        """Remove every toxic and re-enable every proxy."""
        self._call("POST", "/reset")


@pytest.fixture(scope="session")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """One toxiproxy server for the session."""
    peer = start(tmp_path_factory.mktemp("toxiproxy"))
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def toxiproxy(toxiproxy_server: Peer) -> Iterator[Toxiproxy]:
    """A toxiproxy client whose toxics are cleared after each test."""
    client = Toxiproxy(toxiproxy_server)
    try:
        yield client
    finally:
        client.reset()
