"""The suite's own spans over OTLP/HTTP, off unless an endpoint is configured."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def setup_tracing(endpoint: str | None, service_name: str) -> TracerProvider | None:
    """Install a global tracer provider exporting to endpoint; None (no-op tracing) when unset."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    return provider


def tracer(name: str) -> trace.Tracer:
    """A tracer; a no-op one when tracing is off."""
    return trace.get_tracer(name)


def flush(timeout_seconds: float) -> bool:
    """Export the spans still batched (blocking: call it off the loop); True when done or tracing is off."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        return True
    return provider.force_flush(timeout_millis=max(1, int(timeout_seconds * 1000)))
