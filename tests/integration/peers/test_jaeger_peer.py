"""The Jaeger peer: spans sent over OTLP/HTTP come back from the query API, also after a restart."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.peers import jaeger as jaeger_peer
from tests.peers.base import Peer

pytestmark = pytest.mark.integration


def _send_span(peer: Peer, service: str, name: str) -> str:
    """Export one span to the peer's OTLP/HTTP receiver; returns its trace id in hex."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{peer.extra['otlp_http']}/v1/traces")))
    try:
        with provider.get_tracer("observe-tests").start_as_current_span(name) as span:
            span.set_attribute("http.route", "/checkout")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()
    return trace_id


def _wait_for_traces(peer: Peer, service: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service in (jaeger_peer.query(peer, "/api/services").get("data") or []):
            traces: list[dict[str, Any]] = jaeger_peer.query(peer, f"/api/traces?service={service}&limit=20")["data"]
            if traces:
                return traces
        time.sleep(0.2)
    pytest.fail(f"no trace for {service} after {timeout}s:\n{peer.log_tail(30)}")


def test_otlp_span_is_read_back_from_the_query_api(jaeger: Peer) -> None:
    service = f"checkout-{uuid.uuid4().hex[:8]}"
    trace_id = _send_span(jaeger, service, "GET /checkout")
    [trace] = _wait_for_traces(jaeger, service)
    assert trace["traceID"] == trace_id
    [span] = trace["spans"]
    assert span["operationName"] == "GET /checkout"
    assert trace["processes"][span["processID"]]["serviceName"] == service
    assert {"key": "http.route", "type": "string", "value": "/checkout"} in span["tags"]


def test_restart_comes_back_on_the_same_ports_empty(jaeger_private: Peer) -> None:
    before = dict(jaeger_private.ports)
    _send_span(jaeger_private, "before-restart", "op")
    _wait_for_traces(jaeger_private, "before-restart")

    restarted = jaeger_peer.restart(jaeger_private)
    assert restarted is jaeger_private and restarted.ports == before and restarted.alive()
    assert "before-restart" not in (jaeger_peer.query(restarted, "/api/services").get("data") or [])

    trace_id = _send_span(restarted, "after-restart", "op")
    [trace] = _wait_for_traces(restarted, "after-restart")
    assert trace["traceID"] == trace_id


def test_no_port_is_opened_outside_the_configured_ones(jaeger: Peer) -> None:
    # Two Jaegers must be able to run side by side, so every listening port must be one we chose.
    listening = _listening_ports(jaeger.proc.pid)
    assert listening, "could not read the process's sockets"
    assert listening <= set(jaeger.ports.values()), f"unexpected ports {listening - set(jaeger.ports.values())}"


def _listening_ports(pid: int) -> set[int]:
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports: set[int] = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            listen = table.startswith("udp") or cols[3] == "0A"
            if cols[9] in inodes and listen:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports
