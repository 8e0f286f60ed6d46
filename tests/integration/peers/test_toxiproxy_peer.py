"""The toxiproxy peer: traffic passes through, and each toxic injects its real network fault."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.peers.toxiproxy import Toxiproxy

pytestmark = pytest.mark.integration

BODY = b"x" * 64 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _get(port: int, timeout: float = 5.0) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read()
    finally:
        conn.close()


def test_clean_proxy_passes_traffic(toxiproxy: Toxiproxy, upstream_port: int) -> None:
    port = toxiproxy.proxy("clean", upstream_port)
    assert _get(port) == BODY


def test_timeout_toxic_hangs_until_removed(toxiproxy: Toxiproxy, upstream_port: int) -> None:
    port = toxiproxy.proxy("hang", upstream_port)
    # Upstream: the request never arrives. On the downstream side the server's own close would
    # still pass through and end the exchange.
    name = toxiproxy.add_toxic("hang", "timeout", stream="upstream", timeout=0)
    with pytest.raises((TimeoutError, socket.timeout)):
        _get(port, timeout=1.0)
    toxiproxy.remove_toxic("hang", name)
    assert _get(port) == BODY


def test_reset_peer_toxic_resets_the_connection(toxiproxy: Toxiproxy, upstream_port: int) -> None:
    port = toxiproxy.proxy("reset", upstream_port)
    toxiproxy.add_toxic("reset", "reset_peer", timeout=0)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        _get(port)


def test_bandwidth_toxic_slows_the_transfer(toxiproxy: Toxiproxy, upstream_port: int) -> None:
    port = toxiproxy.proxy("slow", upstream_port)
    toxiproxy.add_toxic("slow", "bandwidth", rate=64)  # KB/s: 64 KiB takes about one second
    started = time.monotonic()
    assert _get(port, timeout=10) == BODY
    assert time.monotonic() - started > 0.7


def test_disabled_proxy_refuses_connections(toxiproxy: Toxiproxy, upstream_port: int) -> None:
    port = toxiproxy.proxy("off", upstream_port)
    toxiproxy.set_enabled("off", False)
    with pytest.raises(ConnectionRefusedError):
        _get(port)
    toxiproxy.reset()
    assert _get(port) == BODY
