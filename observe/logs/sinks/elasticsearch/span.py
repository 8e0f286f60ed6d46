"""The attributes and status of one bulk request's span."""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode

# What one attempt did with each item (a span counts these; retries are not drops).
SPAN_OUTCOMES = ("delivered", "duplicate", "deadlettered", "retried", "rejected")


def annotate(span: Span, *, base: str, items: int, nbytes: int, attempt: int, status: int | None,
             counts: dict[str, int], reason: str | None) -> None:
    """Set the bulk span's attributes and, when items are retried or rejected, its error status."""
    span.set_attributes({
        "observe.bulk.items": items,
        "observe.bulk.bytes": nbytes,
        "observe.bulk.attempt": attempt,
        "server.address": base,
        **{f"observe.bulk.{k}": counts.get(k, 0) for k in SPAN_OUTCOMES},
    })
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    rejected = counts.get("rejected", 0)
    if reason is not None or rejected:
        what = f"HTTP {status}" if status is not None and status >= 400 else (reason or "items rejected")
        span.set_status(Status(StatusCode.ERROR, f"{what}: {counts.get('retried', 0)} items to retry, "
                                                 f"{rejected} rejected"))
        span.set_attribute("error.type", str(status) if status is not None and status >= 400 else reason or "rejected")
