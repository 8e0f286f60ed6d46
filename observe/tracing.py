"""The suite's own spans over OTLP/HTTP, off unless an endpoint is configured.

OpenTelemetry (API and SDK) is imported only when tracing is on or a part that makes spans is loaded: a shipper
with no endpoint and no Elasticsearch sink never loads it (issue 18: idle memory and start-up cost).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider


def setup_tracing(endpoint: str | None, service_name: str) -> TracerProvider | None:
    """Install a global tracer provider exporting to endpoint; None (no-op tracing) when unset."""
    if not endpoint:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    return provider


def tracer(name: str) -> trace.Tracer:
    """A tracer; a no-op one when tracing is off."""
    from opentelemetry import trace

    return trace.get_tracer(name)


def enabled() -> bool:
    """Whether a tracer provider is installed; False without importing OpenTelemetry when nothing has loaded it."""
    api = sys.modules.get("opentelemetry.trace")
    if api is None:  # nobody imported the API, so nobody installed a provider
        return False
    return not isinstance(api.get_tracer_provider(), api.ProxyTracerProvider)


def flush(timeout_seconds: float) -> bool:
    """Export the spans still batched (blocking: call it off the loop); True when done or tracing is off."""
    if "opentelemetry.sdk.trace" not in sys.modules:  # no SDK loaded: no provider that batches spans
        return True
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        return True
    return provider.force_flush(timeout_millis=max(1, int(timeout_seconds * 1000)))
