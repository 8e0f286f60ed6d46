"""The Elasticsearch sink's pure logic: auth headers, TLS context, per-item outcomes and dead-letter documents."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from observe.config import ElasticsearchConfig
from observe.es_connection import auth_header, auth_headers, ssl_context, tls_context
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.elasticsearch import request
from observe.logs.sinks.elasticsearch.config import SinkConfig
from observe.logs.sinks.elasticsearch.deadletter import deadletter_item, reason_of
from observe.logs.sinks.elasticsearch.retry import Backoff, item_verdict, request_retry_reason
from observe.logs.sinks.elasticsearch.sink import ElasticsearchSink
from observe.logs.sinks.protocol import Outcome

ITEM = (b'{"create":{"_index":"logs-a-default","_id":"k-10"}}\n'
        b'{"@timestamp":"x","message":"m","log":{"offset":16,"file":{"path":"/p.log"}}}\n')


def es(**kw: object) -> ElasticsearchConfig:
    return ElasticsearchConfig(**kw)  # type: ignore[arg-type]


def test_api_key_wins_over_basic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVE_ES_API_KEY", "abc")
    assert auth_headers(es(username="u")) == {"Authorization": "ApiKey abc"}


def test_basic_auth_reads_the_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBSERVE_ES_API_KEY", raising=False)
    monkeypatch.delenv("OBSERVE_ES_PASSWORD", raising=False)
    (tmp_path / "pw").write_text("s3cret\n")
    header = auth_headers(es(username="elastic", password_file=tmp_path / "pw"))["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"elastic:s3cret"


def test_no_credentials_no_header() -> None:
    assert auth_header(api_key=None, username=None, password="ignored") == {}


def test_tls_verifies_unless_told_not_to() -> None:
    ctx = ssl_context(es(url="https://es:9200"))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ssl_context(es(url="https://es:9200", verify_certs=False)) is False
    with pytest.raises(FileNotFoundError):
        ssl_context(es(url="https://es:9200", ca_file=Path("/nonexistent/ca.pem")))


def test_one_meaning_of_verification_off_for_every_client() -> None:
    # The sink, the exporter and `observe kibana import` all go through tls_context.
    assert tls_context("https://kibana:5601", verify=False) is False
    assert isinstance(tls_context("https://kibana:5601", verify=True), ssl.SSLContext)


def sink() -> ElasticsearchSink:
    return ElasticsearchSink(SinkConfig(es(url="http://127.0.0.1:1"), LogsConfig(deadletter_data_stream="logs-dl-default")),
                             ShipperMetrics(CollectorRegistry()))


def test_items_are_classified_one_by_one() -> None:
    s = sink()
    answers = [{"create": {"status": 201}}, {"create": {"status": 409}}, {"create": {"status": 429}},
               {"create": {"status": 503}},
               {"create": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "bad date"}}},
               {"create": {"status": 404, "error": {"type": "index_not_found_exception", "reason": "no"}}}]
    outcomes = [Outcome.DELIVERED] * 6
    result = s._per_item([(i, ITEM, None) for i in range(6)], answers, outcomes)  # type: ignore[arg-type]
    assert result.reason == "5xx"  # the last retriable status seen
    retried = [p for p in result.left if p[2] is None]
    dead = [p for p in result.left if p[2] is not None]
    assert [i for i, _, _ in retried] == [2, 3] and [r for _, _, r in dead] == ["mapping", "other_4xx"]
    assert outcomes[:2] == [Outcome.DELIVERED, Outcome.DUPLICATE]
    assert result.counts == {"delivered": 1, "duplicate": 1, "deadlettered": 0, "retried": 2, "rejected": 2}
    m = s.metrics
    assert m.events_acked.labels("delivered")._value.get() == 1
    assert m.events_acked.labels("duplicate")._value.get() == 1
    assert m.events_retried.labels("429")._value.get() == 1 and m.events_retried.labels("5xx")._value.get() == 1


def test_a_stored_dead_letter_write_is_the_events_outcome() -> None:
    s = sink()
    outcomes = [Outcome.DELIVERED]
    s._per_item([(0, ITEM, "mapping")], [{"create": {"status": 201}}], outcomes)
    assert outcomes == [Outcome.DEADLETTERED]
    assert s.metrics.events_deadlettered.labels("mapping")._value.get() == 1


def test_an_all_created_answer_stores_the_dead_letter_writes_among_the_items_as_dead_lettered() -> None:
    s = sink()
    outcomes = [Outcome.DELIVERED] * 3
    counts = s._all_ok([(0, ITEM, None), (1, ITEM, "mapping"), (2, ITEM, None)], outcomes)
    assert counts == {"delivered": 2, "deadlettered": 1}
    assert outcomes == [Outcome.DELIVERED, Outcome.DEADLETTERED, Outcome.DELIVERED]
    assert s.metrics.events_deadlettered.labels("mapping")._value.get() == 1
    assert s.metrics.events_acked.labels("delivered")._value.get() == 2


def test_pending_items_are_numbered_in_order_and_their_body_is_the_items_joined() -> None:
    pending = request.pending_of(iter([b"a\n", b"b\n", b"c\n"]))
    assert pending == [(0, b"a\n", None), (1, b"b\n", None), (2, b"c\n", None)]
    assert request.body(pending) == b"a\nb\nc\n"
    assert not request.has_dead_letters(pending) and not request.has_dead_letters([])
    assert request.has_dead_letters([*pending, (3, b"d\n", "mapping")])


def test_a_fresh_batch_is_the_same_pending_items_without_a_tuple_each() -> None:
    raw = [b"a\n", b"b\n", b"c\n", b"d\n"]
    fresh, pending = request.Fresh(raw), request.pending_of(raw)
    assert list(fresh) == pending and len(fresh) == len(pending)
    assert [fresh[i] for i in range(-4, 4)] == [pending[i] for i in range(-4, 4)]
    for cut in (slice(None, 2), slice(2, None), slice(1, 3), slice(None, None, -1)):
        assert fresh[cut] == pending[cut]
    with pytest.raises(IndexError):
        fresh[4]
    assert request.body(fresh) == request.body(pending) == b"a\nb\nc\nd\n"
    assert not request.has_dead_letters(fresh)


def test_dead_letter_document_keeps_the_original_and_its_origin() -> None:
    item = deadletter_item(ITEM, "logs-dl-default", 400, "document_parsing_exception", "bad date")
    assert reason_of("document_parsing_exception") == "mapping"
    action, doc = (orjson.loads(x) for x in item.split(b"\n")[:2])
    assert action == {"create": {"_index": "logs-dl-default", "_id": "k-10"}}
    assert orjson.loads(doc["event"]["original"])["message"] == "m"
    assert doc["log"] == {"offset": 16, "file": {"path": "/p.log"}}
    assert doc["observe"]["deadletter"] == {"data_stream": "logs-a-default", "status": 400, "reason": "mapping"}
    assert doc["error"] == {"type": "document_parsing_exception", "message": "bad date"}


def test_a_rejected_dead_letter_is_dropped_and_counted() -> None:
    s = sink()
    left: list[tuple[int, bytes, str | None]] = []
    outcomes = [Outcome.DELIVERED]
    s._reject(0, ITEM, "mapping", 400, "x", "y", left, outcomes)
    assert left == [] and outcomes == [Outcome.DROPPED]
    assert s.metrics.events_dropped.labels("deadletter_rejected", "false")._value.get() == 1


def test_retry_policy() -> None:
    assert [request_retry_reason(s) for s in (429, 500, 401, 403, 408, 400, 413)] == \
        ["429", "5xx", "auth", "auth", "timeout", None, None]
    assert [item_verdict(s) for s in (201, 409, 429, 503, 400)] == ["ok", "duplicate", "retry", "retry", "reject"]
    b = Backoff(1.0, 4.0)
    waits = [b.next() for _ in range(4)]
    assert 0.5 <= waits[0] <= 1.0 and 2.0 <= waits[3] <= 4.0
    b.reset()
    assert b.delay == 1.0


def test_only_the_older_backing_indices_are_looked_up() -> None:
    from observe.logs.sinks.elasticsearch.existing import older_indices, targets

    resolved = orjson.dumps({"indices": [], "aliases": [], "data_streams": [
        {"name": "logs-a-default", "backing_indices": [".ds-logs-a-default-1", ".ds-logs-a-default-2"]},
        {"name": "logs-dl-default", "backing_indices": [".ds-logs-dl-default-1"]}]})
    assert older_indices(resolved) == [".ds-logs-a-default-1"]  # the write indices answer 409 themselves
    assert older_indices(b'{"indices":[{"name":"plain"}],"aliases":[],"data_streams":[]}') is None
    assert targets([(3, ITEM)]) == {"logs-a-default": [(3, "k-10")]}
