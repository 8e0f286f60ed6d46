"""Pairing client and server spans across sidecars, in any order, with dedupe and expiry."""

from __future__ import annotations

import itertools

import orjson

from observe.traces.model import KIND_CLIENT, KIND_SERVER, STATUS_UNSET, Span, iter_spans
from observe.traces.pairing import BUCKET_US, Pairer
from tests.unit.traces.jaeger_json import bookinfo, response

T0 = 1_700_000_000_000_000


class Recorder:
    """A sink that remembers what pairing reported."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.pairs: list[tuple[str, str]] = []
        self.connections: list[str] = []
        self.unpaired_spans: list[tuple[str, int]] = []

    def span(self, span: Span) -> None:
        self.spans.append(span)

    def pair(self, client: Span, server: Span, connection: str = "") -> None:
        self.pairs.append((client.service, server.service))
        self.connections.append(connection)

    def unpaired(self, span: Span) -> None:
        self.unpaired_spans.append((span.service, span.kind))


def span(sid: str, parent: str, service: str, kind: int, start_us: int = T0) -> Span:
    return Span(sid, parent, "t", service, "op", kind, start_us, 1000, STATUS_UNSET, 1.0)


BOOKINFO_EDGES = sorted([("istio-ingressgateway", "productpage"), ("productpage", "details"),
                         ("productpage", "reviews"), ("reviews", "ratings")])


def test_bookinfo_pairs_every_hop_including_the_gateway_client_span() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    for s in iter_spans(orjson.dumps(response(bookinfo("t1")))):
        pairer.add(s)
    pairer.flush()
    assert sorted(rec.pairs) == BOOKINFO_EDGES
    assert rec.unpaired_spans == []


def test_pairs_are_the_same_whatever_order_the_spans_arrive_in() -> None:
    spans = list(iter_spans(orjson.dumps(response(bookinfo("t1")))))
    for order in itertools.islice(itertools.permutations(spans), 0, None, 997):
        rec = Recorder()
        pairer = Pairer(rec)
        for s in order:
            pairer.add(s)
        pairer.flush()
        assert sorted(rec.pairs) == BOOKINFO_EDGES
        assert rec.unpaired_spans == []


def test_gateway_reached_by_a_traced_caller_pairs_client_to_client() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    pairer.add(span("a", "", "edge-proxy", KIND_CLIENT))
    pairer.add(span("b", "a", "istio-ingressgateway", KIND_CLIENT))
    pairer.add(span("c", "b", "productpage", KIND_SERVER))
    assert rec.pairs == [("edge-proxy", "istio-ingressgateway"), ("istio-ingressgateway", "productpage")]


def test_client_span_of_the_same_service_under_a_client_is_no_pair() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    pairer.add(span("a", "", "app", KIND_CLIENT))
    pairer.add(span("b", "a", "app", KIND_CLIENT))
    pairer.flush()
    assert rec.pairs == []
    assert sorted(rec.unpaired_spans) == [("app", KIND_CLIENT), ("app", KIND_CLIENT)]


def test_duplicate_span_ids_are_counted_once() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    spans = list(iter_spans(orjson.dumps(response(bookinfo("t1")))))
    for s in spans + spans:
        pairer.add(s)
    assert len(rec.spans) == 8
    assert pairer.duplicates == 8
    assert len(rec.pairs) == 4


def test_late_server_span_pairs_while_its_client_is_inside_the_window() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    pairer.add(span("c", "", "productpage", KIND_CLIENT, T0))
    pairer.evict(T0 - BUCKET_US)
    pairer.add(span("s", "c", "details", KIND_SERVER, T0 + 1000))
    assert rec.pairs == [("productpage", "details")]


def test_expired_spans_are_reported_unpaired_by_side() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    pairer.add(span("c", "", "productpage", KIND_CLIENT, T0))
    pairer.add(span("s", "missing", "details", KIND_SERVER, T0))
    pairer.evict(T0 + 2 * BUCKET_US)
    assert sorted(rec.unpaired_spans) == [("details", KIND_SERVER), ("productpage", KIND_CLIENT)]
    assert pairer.seen == {} and pairer.clients == {} and pairer.orphans == {}
    # Its partner arriving after the horizon is refused, not counted.
    assert pairer.add(span("s2", "c", "details", KIND_SERVER, T0)) is False
    assert pairer.before_horizon == 1
    assert rec.pairs == []


def test_server_span_under_a_non_client_parent_is_unpaired() -> None:
    rec = Recorder()
    pairer = Pairer(rec)
    pairer.add(span("p", "", "app", KIND_SERVER))
    pairer.add(span("s", "p", "other", KIND_SERVER))
    assert rec.unpaired_spans == [("other", KIND_SERVER)]
    # The root server span was called from outside the traced mesh: the collector's virtual client "user".
    assert rec.pairs == [("user", "app")] and rec.connections == ["virtual_node"]
