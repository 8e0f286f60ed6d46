"""Jaeger v2's stable query API (`/api/v3/traces`) answers OTLP JSON; this turns it into the same Span records.

The body is `{"result": {"resourceSpans": [...]}}`: a resource's `service.name` names the service, and spans carry
hex ids (base64 from gateways that marshal the protobuf bytes as-is), string nanosecond times, kinds and status
codes as numbers or enum names, and typed attribute values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import msgspec

from observe.traces.model import STATUS_ERROR, STATUS_OK, STATUS_UNSET, Span, TagValues, _rate
from observe.traces.names import NameNormaliser

_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
               "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}  # the same numbers as model.KIND_*
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_NAMING = {"istio.canonical_service": "canonical", "istio.namespace": "istio_namespace", "peer.service": "peer_service",
           "db.name": "db_name", "db.system": "db_system", "messaging.system": "messaging"}


class KeyValue(msgspec.Struct, gc=False):
    """An OTLP attribute: `value` is one of stringValue, intValue, boolValue, doubleValue, ..."""

    key: str
    value: dict[str, Any] = {}


class Status(msgspec.Struct, gc=False):
    """The span status; code is a number or an enum name."""

    code: int | str = 0


class OtlpSpan(msgspec.Struct, gc=False):
    """The span fields pairing and aggregation need."""

    traceId: str = ""
    spanId: str = ""
    parentSpanId: str = ""
    name: str = ""
    kind: int | str = 0
    startTimeUnixNano: int | str = 0
    endTimeUnixNano: int | str = 0
    # Left as bytes until the span is read: a trace that is skipped (known, or another shard's) is most of every
    # answer once the puller runs, and building its attributes was 6 of the 7 us a span cost to decode.
    attributes: msgspec.Raw = msgspec.Raw(b"[]")
    status: Status | None = None


class ScopeSpans(msgspec.Struct, gc=False):
    """Spans of one instrumentation scope."""

    spans: list[OtlpSpan] = []


class Resource(msgspec.Struct, gc=False):
    """The resource (service) of a batch of spans."""

    attributes: list[KeyValue] = []


class ResourceSpans(msgspec.Struct, gc=False):
    """Spans of one resource."""

    resource: Resource | None = None
    scopeSpans: list[ScopeSpans] = []


class TracesData(msgspec.Struct, gc=False):
    """OTLP TracesData."""

    resourceSpans: list[ResourceSpans] = []


class Answer(msgspec.Struct, gc=False):
    """The api/v3 wrapper."""

    result: TracesData | None = None


_answer = msgspec.json.Decoder(Answer)
_attributes = msgspec.json.Decoder(list[KeyValue])


def _value(v: dict[str, Any]) -> Any:
    for kind in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if kind in v:
            return v[kind]
    return None


def _hex_id(raw: str) -> str:
    """OTLP JSON ids are hex; a protobuf-style marshaler writes base64 of the bytes instead."""
    if raw and len(raw) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in raw):
        return raw.lower()
    try:
        return base64.b64decode(raw, validate=True).hex() if raw else ""
    except (binascii.Error, ValueError):
        return raw


def _number(value: int | str, names: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    return names.get(value, int(value) if value.isdigit() else 0)


def _int(value: int | str) -> int:
    return value if isinstance(value, int) else int(value or 0)


class _RawTracesData(msgspec.Struct, gc=False):
    resourceSpans: list[msgspec.Raw] = []


class _RawAnswer(msgspec.Struct, gc=False):
    result: _RawTracesData | None = None


_raw_answer = msgspec.json.Decoder(_RawAnswer)
_resource_spans = msgspec.json.Decoder(ResourceSpans)


def _batches(body: bytes, counts: dict[str, int]) -> list[ResourceSpans]:
    """The answer's resource batches. One batch of the wrong shape used to fail the whole answer (and the puller
    asked for the same window again, for ever): the batches are then decoded one by one, and each that still fails
    is counted as spans_malformed."""
    try:
        return (_answer.decode(body).result or TracesData()).resourceSpans
    except msgspec.ValidationError:
        pass
    data = _raw_answer.decode(body).result  # an answer whose frame is wrong still raises
    batches = []
    for raw in data.resourceSpans if data else ():
        try:
            batches.append(_resource_spans.decode(raw))
        except msgspec.ValidationError:
            counts["spans_malformed"] = counts.get("spans_malformed", 0) + 1
    return batches


def decode_traces(body: bytes, default_rate: float = 1.0, name_of: NameNormaliser | None = None,
                  counts: dict[str, int] | None = None,
                  take: Callable[[str, int, int], bool] | None = None) -> dict[str, list[Span]]:
    """{trace id: spans} of an api/v3 answer; raises msgspec.DecodeError (a ValueError) on an answer that is not one.
    Input that can't be read is skipped and counted in `counts`: a resource's batch of the wrong shape as
    spans_malformed, a span with, say, a time that is not a number as span_malformed.

    `take(trace id, spans in this answer, earliest span start in microseconds)` is asked once per trace before any
    of its spans is read (the start is 0 when no span's start time can be read); the spans of a trace it declines are
    left undecoded (reading a span's attributes is most of the cost of an answer)."""
    counts = counts if counts is not None else {}
    traces: dict[str, list[Span]] = {}
    root_rates: dict[str, float] = {}
    default_weight = 1.0 / default_rate
    batches = _batches(body, counts)
    declined = _declined(batches, take) if take is not None else set()
    for rs in batches:
        service = next((str(_value(a.value)) for a in (rs.resource.attributes if rs.resource else ())
                        if a.key == "service.name"), "") or "unknown"
        for scope in rs.scopeSpans:
            for s in scope.spans:
                if s.traceId in declined:
                    continue
                try:
                    span, rate = _span(s, service, name_of, default_weight)
                except (ValueError, TypeError):
                    counts["span_malformed"] = counts.get("span_malformed", 0) + 1
                    continue
                traces.setdefault(span.trace_id, []).append(span)
                if rate is not None:
                    root_rates[span.trace_id] = rate
    for trace_id, rate in root_rates.items():
        for span in traces[trace_id]:
            span.weight = 1.0 / rate
    return traces


def _declined(batches: list[ResourceSpans], take: Callable[[str, int, int], bool]) -> set[str]:
    """The raw trace ids of the traces `take` declines, each asked once with its span count in the answer and its
    earliest span start (microseconds; 0 when none can be read)."""
    sizes: dict[str, list[int]] = {}  # raw id: [spans, earliest readable start in ns, 0 while none]
    for rs in batches:
        for scope in rs.scopeSpans:
            for s in scope.spans:
                try:
                    start = max(_int(s.startTimeUnixNano), 0)
                except ValueError:
                    start = 0
                seen = sizes.setdefault(s.traceId, [0, start])
                seen[0] += 1
                if start and (start < seen[1] or not seen[1]):
                    seen[1] = start
    return {raw for raw, (size, start) in sizes.items() if not take(_hex_id(raw), size, start // 1000)}


def _span(s: OtlpSpan, service: str, name_of: NameNormaliser | None, weight: float) -> tuple[Span, float | None]:
    """One span, and its trace's sampling rate when it is a probabilistically sampled root; ValueError or TypeError
    when a field can't be read."""
    tags = TagValues()
    error = False
    http_status: Any = None
    for attr in _attributes.decode(s.attributes):
        v = _value(attr.value)
        field = _NAMING.get(attr.key)
        if field is not None:
            setattr(tags, field, v)
        elif attr.key == "error":
            error = error or v is True or v == "true"
        elif attr.key in ("http.status_code", "http.response.status_code"):
            http_status = v
        elif attr.key == "sampler.type":
            tags.sampler_type = v
        elif attr.key == "sampler.param":
            tags.sampler_param = v
    code = _number(s.status.code, _STATUS_NAMES) if s.status else 0
    if not error and http_status is not None:
        try:
            error = int(http_status) >= 500
        except (TypeError, ValueError):
            pass
    status = STATUS_ERROR if error or code == 2 else STATUS_OK if code == 1 else STATUS_UNSET
    trace_id, parent = _hex_id(s.traceId), _hex_id(s.parentSpanId)
    rate = _rate(tags.sampler_param) if not parent and tags.sampler_type == "probabilistic" else None
    start_ns, end_ns = _int(s.startTimeUnixNano), _int(s.endTimeUnixNano)
    name = name_of(s.name) if name_of is not None else s.name
    return Span(_hex_id(s.spanId), parent, trace_id, service, name, _number(s.kind, _KIND_NAMES),
                start_ns // 1000, max(0, end_ns - start_ns) // 1000, status, weight, tags.peers()), rate
