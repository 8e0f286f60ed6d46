"""Decoding Jaeger JSON into span records: compact byte search and the full-decode fallback agree."""

from __future__ import annotations

import json

import msgspec
import orjson
import pytest

from observe.traces import model
from observe.traces.model import (
    KIND_CLIENT,
    KIND_SERVER,
    KIND_UNSPECIFIED,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_UNSET,
    decode_response,
    decode_spans,
    iter_spans,
    read_tags,
)
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response, tag


def test_bookinfo_trace_decodes_to_records_with_parents_kinds_and_services() -> None:
    spans = list(iter_spans(orjson.dumps(response(bookinfo("t1", ratings_status=503)))))
    assert len(spans) == 8
    by_service_kind = {(s.service, s.kind) for s in spans}
    assert ("istio-ingressgateway", KIND_CLIENT) in by_service_kind
    assert ("ratings", KIND_SERVER) in by_service_kind
    ids = {s.span_id for s in spans}
    assert all(s.parent_id in ids for s in spans if s.parent_id)
    assert sum(1 for s in spans if not s.parent_id) == 1
    ratings = [s for s in spans if s.service == "ratings"]
    assert [s.status for s in ratings] == [STATUS_ERROR]
    assert all(s.trace_id == "t1" and s.weight == 1.0 for s in spans)


def test_pretty_printed_export_decodes_like_the_compact_api_answer() -> None:
    body = response(bookinfo("t1", ratings_status=500), bookinfo("t2"))
    compact = list(iter_spans(orjson.dumps(body)))
    pretty = list(iter_spans(json.dumps(body, indent=2).encode()))
    assert compact == pretty


@pytest.mark.parametrize("raw_tags, kind, status", [
    (b'[{"key":"span.kind","type":"string","value":"server"},{"key":"http.status_code","type":"int64","value":200}]',
     KIND_SERVER, STATUS_UNSET),
    (b'[{"key":"span.kind","type":"string","value":"client"},{"key":"http.status_code","type":"string","value":"503"}]',
     KIND_CLIENT, STATUS_ERROR),
    (b'[{"key":"error","type":"bool","value":true},{"key":"span.kind","type":"string","value":"client"}]',
     KIND_CLIENT, STATUS_ERROR),
    (b'[{"key":"otel.status_code","type":"string","value":"OK"}]', KIND_UNSPECIFIED, STATUS_OK),
    (b'[{"key":"otel.status_code","type":"string","value":"ERROR"}]', KIND_UNSPECIFIED, STATUS_ERROR),
    # Reordered fields and escaped strings are not Jaeger's compact layout: the fallback decodes them.
    (b'[{"value":"client","key":"span.kind","type":"string"}]', KIND_CLIENT, STATUS_UNSET),
    (b'[{"key":"span.kind","type":"string","value":"ser\\u0076er"}]', KIND_SERVER, STATUS_UNSET),
    (b'[{"key":"note","type":"string","value":"say \\"hi\\""},{"key":"span.kind","type":"string","value":"server"}]',
     KIND_SERVER, STATUS_UNSET),
])
def test_wanted_tags_are_read_from_raw_bytes(raw_tags: bytes, kind: int, status: int) -> None:
    span_json = b'{"spanID":"a","operationName":"x","references":[],"startTime":1,"duration":1,"processID":"p1","tags":'
    body = b'{"data":[{"traceID":"t","spans":[' + span_json + raw_tags + b'}],"processes":{"p1":{"serviceName":"s"}}}]}'
    (span,) = iter_spans(body)
    assert (span.kind, span.status) == (kind, status)
    assert read_tags(msgspec.Raw(raw_tags)).kind in {"server", "client", None}


def test_root_span_sampler_tags_weight_every_span_of_the_trace() -> None:
    t = TraceBuilder("t")
    root = t.span("gw", "client", extra_tags=[tag("sampler.type", "probabilistic"), tag("sampler.param", 0.25)])
    t.span("app", "server", parent=root)
    (trace,) = decode_response(orjson.dumps(response(t)))
    assert [s.weight for s in decode_spans(trace, default_rate=1.0)] == [4.0, 4.0]


def test_configured_sampling_rate_applies_without_sampler_tags() -> None:
    (trace,) = decode_response(orjson.dumps(response(bookinfo("t"))))
    assert {s.weight for s in decode_spans(trace, default_rate=0.1)} == {10.0}


def test_invalid_json_raises_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_response(b'{"data": [')


def test_compact_tags_are_read_without_decoding_the_whole_array() -> None:
    # Bytes after the wanted tag are never parsed on the fast path (the full decoder would reject them).
    raw = msgspec.Raw(b'[{"key":"span.kind","type":"string","value":"client"},{"key":"x","type":"string","value":')
    assert model._fast_tags(raw) == (KIND_CLIENT, STATUS_UNSET, None, model.NO_NAMING)


def test_traces_config_errors_name_the_problem() -> None:
    from pydantic import ValidationError

    from observe.traces.config import TracesConfig

    with pytest.raises(ValidationError, match="increasing positive"):
        TracesConfig(service_graph_buckets_seconds=[0.2, 0.1])
    with pytest.raises(ValidationError, match="below total_shards"):
        TracesConfig(shard=2, total_shards=2)


def test_naming_tags_on_the_fast_and_the_slow_path() -> None:
    fast = msgspec.Raw(b'[{"key":"span.kind","type":"string","value":"client"},{"key":"istio.canonical_service",'
                       b'"type":"string","value":"reviews"},{"key":"istio.namespace","type":"string","value":"shop"},'
                       b'{"key":"db.system","type":"string","value":"redis"}]')
    assert model._fast_tags(fast) == (KIND_CLIENT, STATUS_UNSET, None, ("reviews", "shop", "redis", model.CONN_DATABASE))
    slow = msgspec.Raw(b'[ {"value": "kafka", "key": "messaging.system"}, {"key": "span.kind", "value": "producer"} ]')
    assert model._fast_tags(slow) is None
    assert model._slow_tags(slow) == (model.KIND_PRODUCER, STATUS_UNSET, None, ("", "", "kafka", model.CONN_MESSAGING))
