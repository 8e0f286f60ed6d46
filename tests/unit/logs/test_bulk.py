"""The bulk sink's pure logic: auth headers, TLS context, per-item classification and dead-letter documents."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from observe.config import ElasticsearchConfig
from observe.logs.bulk import BulkSink, auth_headers, ssl_context
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics

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


def test_tls_verifies_unless_told_not_to() -> None:
    ctx = ssl_context(es(url="https://es:9200"))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ssl_context(es(url="https://es:9200", verify_certs=False)) is False
    with pytest.raises(FileNotFoundError):
        ssl_context(es(url="https://es:9200", ca_file=Path("/nonexistent/ca.pem")))


def sink() -> BulkSink:
    return BulkSink(es(url="http://127.0.0.1:1"), LogsConfig(deadletter_data_stream="logs-dl-default"),
                    ShipperMetrics(CollectorRegistry()))


def test_items_are_classified_one_by_one() -> None:
    s = sink()
    answers = [{"create": {"status": 201}}, {"create": {"status": 409}}, {"create": {"status": 429}},
               {"create": {"status": 503}},
               {"create": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "bad date"}}},
               {"create": {"status": 404, "error": {"type": "index_not_found_exception", "reason": "no"}}}]
    pending, reason = s._per_item([(ITEM, None)] * 6, answers)
    assert reason == "5xx"  # the last retriable status seen
    retried = [p for p in pending if p[1] is None]
    dead = [p for p in pending if p[1] is not None]
    assert len(retried) == 2 and [r for _, r in dead] == ["mapping", "other_4xx"]
    m = s.metrics
    assert m.events_acked.labels("delivered")._value.get() == 1
    assert m.events_acked.labels("duplicate")._value.get() == 1
    assert m.events_retried.labels("429")._value.get() == 1 and m.events_retried.labels("5xx")._value.get() == 1


def test_dead_letter_document_keeps_the_original_and_its_origin() -> None:
    item, reason = sink()._deadletter(ITEM, None, 400, "document_parsing_exception", "bad date")
    assert reason == "mapping"
    action, doc = (orjson.loads(x) for x in item.split(b"\n")[:2])
    assert action == {"create": {"_index": "logs-dl-default", "_id": "k-10"}}
    assert orjson.loads(doc["event"]["original"])["message"] == "m"
    assert doc["log"] == {"offset": 16, "file": {"path": "/p.log"}}
    assert doc["observe"]["deadletter"] == {"data_stream": "logs-a-default", "status": 400, "reason": "mapping"}
    assert doc["error"] == {"type": "document_parsing_exception", "message": "bad date"}


def test_a_rejected_dead_letter_is_dropped_and_counted() -> None:
    s = sink()
    item, _ = s._deadletter(ITEM, "mapping", 400, "x", "y")
    assert item == b""
    assert s.metrics.events_dropped.labels("deadletter_rejected", "false")._value.get() == 1
