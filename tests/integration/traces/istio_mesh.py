"""Sends Istio-shaped Envoy spans for the Bookinfo topology to a real Jaeger over OTLP/HTTP (opentelemetry-sdk)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

BOOKINFO = ("istio-ingressgateway", "productpage", "details", "reviews", "ratings")


@dataclass
class Later:
    """A span held back, to be sent late (it keeps its original start time)."""

    send: Callable[[], object]


class Mesh:
    """One tracer provider per workload, named `<workload>-<suffix>` so tests do not see each other's traffic."""

    def __init__(self, otlp_http: str, suffix: str | None = None) -> None:
        self.suffix = suffix or uuid.uuid4().hex[:6]
        self.endpoint = otlp_http.rstrip("/") + "/v1/traces"
        self.providers: dict[str, TracerProvider] = {}
        self.sent = 0

    def name(self, workload: str) -> str:
        """The service name Jaeger shows for a workload."""
        return f"{workload}-{self.suffix}"

    def services(self) -> list[str]:
        return [self.name(w) for w in BOOKINFO]

    def _tracer(self, workload: str) -> trace.Tracer:
        if workload not in self.providers:
            provider = TracerProvider(resource=Resource.create({"service.name": self.name(workload)}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.endpoint),
                                                           schedule_delay_millis=100))
            self.providers[workload] = provider
        return self.providers[workload].get_tracer("envoy")

    def envoy_span(self, workload: str, kind: SpanKind, parent: Context | None, start_s: float, ms: float,
                   host: str, status: int, name: str | None = None) -> Context:
        """One Envoy span as Istio writes it; returns the context its children use."""
        client = kind == SpanKind.CLIENT
        attrs: dict[str, str | int | bool] = {
            "component": "proxy", "node_id": f"sidecar~10.0.0.1~{workload}-v1.default~default.svc.cluster.local",
            "upstream_cluster": f"outbound|9080||{host}.default.svc.cluster.local" if client else "inbound|9080||",
            "istio.canonical_service": workload, "istio.namespace": "default", "http.status_code": status,
            "response_flags": "-" if status < 500 else "URX", "http.url": f"http://{host}:9080/{host}",
            "http.method": "GET", "guid:x-request-id": str(uuid.uuid4()),
        }
        start_ns = int(start_s * 1e9)
        span = self._tracer(workload).start_span(name or f"{host}.default.svc.cluster.local:9080/*", context=parent,
                                                 kind=kind, start_time=start_ns, attributes=attrs)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + int(ms * 1e6))
        self.sent += 1
        return trace.set_span_in_context(span)

    def request(self, start_s: float, *, ratings_ms: float = 5.0, ratings_status: int = 200,
                hold_ratings_server: bool = False) -> Later | None:
        """One Bookinfo page view: gateway -> productpage -> details, reviews -> ratings. 8 spans."""
        gw = self.envoy_span("istio-ingressgateway", SpanKind.CLIENT, None, start_s, 40, "productpage", 200)
        pp = self.envoy_span("productpage", SpanKind.SERVER, gw, start_s + 0.0001, 39, "productpage", 200)
        dc = self.envoy_span("productpage", SpanKind.CLIENT, pp, start_s + 0.001, 6, "details", 200)
        self.envoy_span("details", SpanKind.SERVER, dc, start_s + 0.0011, 5, "details", 200)
        rc = self.envoy_span("productpage", SpanKind.CLIENT, pp, start_s + 0.002, 30, "reviews", 200)
        rs = self.envoy_span("reviews", SpanKind.SERVER, rc, start_s + 0.0021, 29, "reviews", 200)
        tc = self.envoy_span("reviews", SpanKind.CLIENT, rs, start_s + 0.003, ratings_ms + 1, "ratings", ratings_status)
        server = Later(lambda: self.envoy_span("ratings", SpanKind.SERVER, tc, start_s + 0.0031, ratings_ms, "ratings",
                                               ratings_status))
        if hold_ratings_server:
            return server
        server.send()
        return None

    def flush(self) -> None:
        """Export everything sent so far."""
        for provider in self.providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def jaeger_span_count(query_url: str, service: str, start_s: float, end_s: float) -> int:
    """How many spans Jaeger returns for a service's traces in a time range."""
    url = (f"{query_url}/api/traces?service={service}&start={int(start_s * 1e6)}&end={int(end_s * 1e6)}"
           "&limit=10000")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
    except OSError:
        return -1
    return sum(len(t["spans"]) for t in body.get("data") or [])


def wait_for_spans(query_url: str, service: str, start_s: float, end_s: float, expected: int,
                   timeout: float = 30.0) -> None:
    """Poll Jaeger until the service's traces hold `expected` spans."""
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        got = jaeger_span_count(query_url, service, start_s, end_s)
        if got >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"Jaeger holds {got} spans for {service}, expected {expected}")
