"""Builds Jaeger /api/traces JSON shaped like Istio's Envoy spans, for unit tests of pure logic."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


def new_id() -> str:
    """A fresh 16-hex-digit span id."""
    return f"{next(_ids):016x}"


def tag(key: str, value: Any) -> dict[str, Any]:
    """A Jaeger tag in the API's own field order."""
    kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
    return {"key": key, "type": kind, "value": value}


@dataclass
class TraceBuilder:
    """Collects Envoy-like spans of one trace."""

    trace_id: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)

    def span(self, service: str, kind: str, *, parent: str | None = None, start_us: int = 1_700_000_000_000_000,
             duration_us: int = 1000, status: int = 200, name: str | None = None, span_id: str | None = None,
             extra_tags: list[dict[str, Any]] | None = None) -> str:
        """Add a span; returns its id."""
        sid = span_id or new_id()
        pid = self.services.setdefault(service, f"p{len(self.services) + 1}")
        tags = [tag("component", "proxy"), tag("upstream_cluster", "outbound|9080||x.default.svc.cluster.local"),
                tag("istio.canonical_service", service), tag("istio.namespace", "default"),
                tag("http.status_code", status), tag("response_flags", "-"), tag("http.url", "http://x:9080/"),
                tag("http.method", "GET"), tag("span.kind", kind)]
        if status >= 500:
            tags.append(tag("error", True))
        tags.extend(extra_tags or [])
        self.spans.append({
            "traceID": self.trace_id, "spanID": sid, "flags": 1,
            "operationName": name or f"{service}.default.svc.cluster.local:9080/*",
            "references": [{"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent}] if parent else [],
            "startTime": start_us, "duration": duration_us, "tags": tags, "logs": [], "processID": pid,
            "warnings": None,
        })
        return sid

    def call(self, client: str, server: str, *, parent: str | None = None, start_us: int = 1_700_000_000_000_000,
             client_us: int = 2000, server_us: int = 1500, status: int = 200) -> tuple[str, str]:
        """A client span and its callee's server span; returns (client id, server id)."""
        c = self.span(client, "client", parent=parent, start_us=start_us, duration_us=client_us, status=status)
        s = self.span(server, "server", parent=c, start_us=start_us + 100, duration_us=server_us, status=status)
        return c, s

    def json(self) -> dict[str, Any]:
        """The trace object of /api/traces."""
        procs = {pid: {"serviceName": name, "tags": [tag("ip", "10.0.0.1")]} for name, pid in self.services.items()}
        return {"traceID": self.trace_id, "spans": self.spans, "processes": procs, "warnings": None}


def bookinfo(trace_id: str, *, start_us: int = 1_700_000_000_000_000, ratings_status: int = 200,
             ratings_us: int = 3000) -> TraceBuilder:
    """One Bookinfo request: gateway -> productpage -> details and reviews; reviews -> ratings."""
    t = TraceBuilder(trace_id)
    gw = t.span("istio-ingressgateway", "client", start_us=start_us, duration_us=30_000)
    pp = t.span("productpage", "server", parent=gw, start_us=start_us + 50, duration_us=29_000)
    t.call("productpage", "details", parent=pp, start_us=start_us + 100, client_us=5000, server_us=4000)
    _, rv = t.call("productpage", "reviews", parent=pp, start_us=start_us + 200, client_us=12_000, server_us=11_000)
    t.call("reviews", "ratings", parent=rv, start_us=start_us + 300, client_us=ratings_us + 500,
           server_us=ratings_us, status=ratings_status)
    return t


def response(*traces: TraceBuilder) -> dict[str, Any]:
    """An /api/traces body."""
    return {"data": [t.json() for t in traces], "total": 0, "limit": 0, "offset": 0, "errors": None}
