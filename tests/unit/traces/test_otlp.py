"""api/v3 answers (OTLP JSON) become the same Span records as /api/traces answers."""

from __future__ import annotations

import base64

import orjson

from observe.traces.model import CONN_DATABASE, KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_UNSET
from observe.traces.otlp import decode_traces


def kv(key: str, value: object) -> dict[str, object]:
    kind = "boolValue" if isinstance(value, bool) else "intValue" if isinstance(value, int) else "stringValue"
    return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}


def answer(*resource_spans: dict[str, object]) -> bytes:
    return orjson.dumps({"result": {"resourceSpans": list(resource_spans)}})


def test_spans_services_kinds_status_and_naming_tags() -> None:
    tid = "0af7651916cd43dd8448eb211c80319c"
    body = answer(
        {"resource": {"attributes": [kv("service.name", "reviews")]}, "scopeSpans": [{"spans": [
            {"traceId": tid, "spanId": "b7ad6b7169203331", "name": "GET /r/123", "kind": 3,
             "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000012000000",
             "attributes": [kv("istio.canonical_service", "reviews"), kv("istio.namespace", "shop"),
                            kv("db.system", "redis")], "status": {}}]}]},
        {"resource": {"attributes": [kv("service.name", "ratings")]}, "scopeSpans": [{"spans": [
            {"traceId": base64.b64encode(bytes.fromhex(tid)).decode(),
             "spanId": base64.b64encode(bytes.fromhex("00f067aa0ba902b7")).decode(),
             "parentSpanId": base64.b64encode(bytes.fromhex("b7ad6b7169203331")).decode(),
             "name": "ratings", "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": 1700000000001000000,
             "endTimeUnixNano": 1700000000011000000, "attributes": [kv("http.response.status_code", 503)],
             "status": {"code": "STATUS_CODE_UNSET"}}]}]})
    traces = decode_traces(body, name_of=None)
    (spans,) = traces.values()
    client, server = spans
    assert (client.service, client.kind, client.start_us, client.duration_us, client.status) == (
        "reviews", KIND_CLIENT, 1_700_000_000_000_000, 12_000, STATUS_UNSET)
    assert (client.node, client.namespace, client.peer, client.conn) == ("reviews", "shop", "redis", CONN_DATABASE)
    assert (server.trace_id, server.span_id, server.parent_id) == (tid, "00f067aa0ba902b7", "b7ad6b7169203331")
    assert (server.kind, server.status, server.duration_us) == (KIND_SERVER, STATUS_ERROR, 10_000)


def test_probabilistic_root_sampler_weights_the_whole_trace() -> None:
    body = answer({"resource": {"attributes": [kv("service.name", "gw")]}, "scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": "01" * 8, "kind": 2, "startTimeUnixNano": "0", "endTimeUnixNano": "1000",
         "attributes": [kv("sampler.type", "probabilistic"), {"key": "sampler.param", "value": {"doubleValue": 0.25}}]},
        {"traceId": "ab" * 16, "spanId": "02" * 8, "parentSpanId": "01" * 8, "kind": 3, "startTimeUnixNano": "0",
         "endTimeUnixNano": "1000"}]}]})
    (spans,) = decode_traces(body).values()
    assert [s.weight for s in spans] == [4.0, 4.0]


def test_empty_answers() -> None:
    assert decode_traces(b'{"result":{"resourceSpans":[]}}') == {}
    assert decode_traces(b"{}") == {}


def _resource(service: str, *spans: dict[str, object]) -> dict[str, object]:
    return {"resource": {"attributes": [kv("service.name", service)]}, "scopeSpans": [{"spans": list(spans)}]}


def _span(trace: str, span: str, start: object = "1700000000000000000") -> dict[str, object]:
    return {"traceId": trace, "spanId": span, "name": "GET", "kind": 2, "startTimeUnixNano": start,
            "endTimeUnixNano": "1700000000010000000"}


def test_a_span_or_batch_of_the_wrong_shape_is_skipped_and_counted_and_the_rest_is_used() -> None:
    """One malformed span raised out of decode_traces (a time that is not a number: ValueError; an attribute value
    that is not an object: ValidationError of the whole answer), so the puller asked for the same window again and
    again. Now a span that can't be read is counted as span_malformed, a resource's batch that can't be decoded as
    spans_malformed (one per span it held, when it can tell), and the other spans are used. A span's attributes are
    read only with the span, so an attribute of the wrong shape makes that span malformed, not its batch."""
    good = "0af7651916cd43dd8448eb211c80319c"
    body = answer(
        _resource("reviews", _span(good, "b7ad6b7169203331"), _span(good, "b7ad6b7169203332", start="soon")),
        _resource("ratings", {**_span(good, "00f067aa0ba902b7"), "attributes": [{"key": "x", "value": 5}]}),
        _resource("productpage", {**_span(good, "00f067aa0ba902b9"), "kind": [2]}),
        _resource("details", _span(good, "00f067aa0ba902b8")))
    counts: dict[str, int] = {}
    (spans,) = decode_traces(body, counts=counts).values()
    assert sorted(s.service for s in spans) == ["details", "reviews"]
    assert counts == {"span_malformed": 2, "spans_malformed": 1}


def test_the_ingest_counts_what_it_skips_in_its_rejected_reasons() -> None:
    from observe.traces.aggregate import RedAggregates
    from observe.traces.ingest import Ingest

    tid = "0af7651916cd43dd8448eb211c80319c"
    ingest = Ingest(RedAggregates())
    body = answer(_resource("reviews", _span(tid, "b7ad6b7169203331"), _span(tid, "b7ad6b7169203332", start="x")))
    assert ingest.feed_otlp(body) == 1
    assert ingest.rejected == {"span_malformed": 1}
