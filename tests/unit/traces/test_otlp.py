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
