"""Jaeger v2 built from the Go module proxy, run with ephemeral Badger storage and every port on loopback.

The module tag v1.76.0 is the same commit as Jaeger v2.13.0 (the module path has no /v2).
We pass our own config rather than the built-in all-in-one one, because that one pins about
fifteen fixed ports (5778, 8888, 9411, 14250, ...) and two runs would collide; ours opens only
OTLP, the query service and the health check, each on a free port.

Storage is Badger in ephemeral mode (in memory, gone on exit), not the `memory` backend: in v2.13 the memory
backend hands every reader the stored trace itself, and the query service's adjusters sort its attributes in
place, so two concurrent queries tear a resource's or span's attributes (keys sorted, values not: we saw
`service.name` answer "1.45.2", the SDK version). Badger decodes a fresh copy for every read. Our puller asks
one query per service at once (`traces.concurrency`, default 4), which is how it was found; see docs/traces.md.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers import gobuild
from tests.peers.base import RUNNING, Peer, PeerError, free_port, http_ok, start_process, wait_ready

VERSION = "v1.76.0"
RELEASE = "v2.13.0"
INSTALL_ORDER = 60

MODULE = "github.com/jaegertracing/jaeger"
PORT_NAMES = ("otlp_grpc", "otlp_http", "query_http", "query_grpc", "health")


def install() -> None:
    """Build jaeger (copies the module's sarama replace; several minutes cold, seconds cached)."""
    binary()


def binary() -> Path:
    """The jaeger v2 binary, built once per version."""
    return gobuild.build("jaeger", VERSION, f"{MODULE}/cmd/jaeger", module=MODULE,
                         ldflags=[f"-X {MODULE}/internal/version.latestVersion={RELEASE}"])


def config(ports: dict[str, int]) -> dict[str, Any]:
    """An all-in-one pipeline (OTLP in, ephemeral Badger store, query API) listening only where `ports` says."""
    def on(name: str) -> dict[str, str]:
        return {"endpoint": f"127.0.0.1:{ports[name]}"}

    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
            # Jaeger's own metrics would open another fixed port (8888); not needed here.
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": on("health")},
            # enable_tracing=false, or Jaeger traces itself into the test data.
            "jaeger_query": {"storage": {"traces": "store"}, "enable_tracing": False,
                             "http": on("query_http"), "grpc": on("query_grpc")},
            "jaeger_storage": {"backends": {"store": {"badger": {"ephemeral": True, "ttl": {"spans": "2h"},
                                                                  "maintenance_interval": "5m"}}}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": on("otlp_grpc"), "http": on("otlp_http")}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "store"}},
    }


def start(workdir: Path, ports: dict[str, int] | None = None) -> Peer:
    """Jaeger on free loopback ports (or on `ports`, to come back where a previous run was)."""
    install()
    ports = dict(ports) if ports else {name: free_port() for name in PORT_NAMES}
    workdir.mkdir(parents=True, exist_ok=True)
    # YAML is a superset of JSON, so the config needs no YAML writer.
    cfg = workdir / "jaeger.yaml"
    cfg.write_text(json.dumps(config(ports), indent=2))
    peer = start_process("jaeger", [binary(), f"--config={cfg}"], workdir,
                         env={"JAEGER_LISTEN_HOST": "127.0.0.1"})
    peer.url = f"http://127.0.0.1:{ports['query_http']}"
    peer.ports = ports
    peer.extra = {"otlp_http": f"http://127.0.0.1:{ports['otlp_http']}",
                  "otlp_grpc": f"http://127.0.0.1:{ports['otlp_grpc']}"}
    health = f"http://127.0.0.1:{ports['health']}/status"
    return wait_ready(peer, lambda: http_ok(health) and http_ok(f"{peer.url}/api/services"), timeout=60)


def restart(peer: Peer) -> Peer:
    """Stop Jaeger and start it again on the same ports, in place (the ephemeral store starts empty).

    The same Peer object keeps tracking the new process, so the fixture that owns it still stops it.
    """
    peer.stop()
    fresh = start(peer.workdir, peer.ports)
    RUNNING.remove(fresh)
    peer.proc, peer.log_path = fresh.proc, fresh.log_path
    RUNNING.append(peer)
    return peer


def query(peer: Peer, path: str) -> dict[str, Any]:
    """GET a query-API path (e.g. /api/services) and decode the JSON answer."""
    try:
        with urllib.request.urlopen(f"{peer.url}{path}", timeout=10) as r:
            body: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise PeerError(f"jaeger GET {path} -> {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None
    return body


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Jaeger v2 with ephemeral (in-memory) Badger storage; url is the query API, extra has otlp_http and otlp_grpc."""
    holder = start(tmp_path_factory.mktemp("jaeger"))
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def jaeger_private(tmp_path: Path) -> Iterator[Peer]:
    """A Jaeger of one test's own, for tests that stop or restart it."""
    holder = start(tmp_path / "jaeger")
    try:
        yield holder
    finally:
        holder.stop()
