"""The window: whole-trace skipping, eviction, and a state-file round trip that keeps dedupe and waiting spans."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from observe.traces import state
from observe.traces.aggregate import RedAggregates
from observe.traces.ingest import Ingest
from observe.traces.pairing import BUCKET_US
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response

T0 = 1_700_000_000_000_000


def test_a_trace_seen_unchanged_is_skipped_and_counted_as_duplicates() -> None:
    agg = RedAggregates()
    ingest = Ingest(agg)
    body = orjson.dumps(response(bookinfo("t1"), bookinfo("t2")))
    assert ingest.feed(body) == 2
    ingest.feed(body)
    assert ingest.pairer.accepted == 16 and ingest.pairer.duplicates == 16
    assert sum(s.total for s in agg.edges.values()) == 8


def test_a_trace_that_grew_is_decoded_again_and_only_new_spans_count() -> None:
    agg = RedAggregates()
    ingest = Ingest(agg)
    t = TraceBuilder("t")
    c = t.span("productpage", "client", start_us=T0)
    ingest.feed(orjson.dumps(response(t)))
    t.span("details", "server", parent=c, start_us=T0 + 10)
    ingest.feed(orjson.dumps(response(t)))
    assert (ingest.pairer.accepted, ingest.pairer.duplicates) == (2, 1)
    assert [k[:2] for k in agg.edges] == [("productpage", "details")]


def test_state_round_trip_keeps_dedupe_and_lets_a_waiting_client_pair_after_restart(tmp_path: Path) -> None:
    t = TraceBuilder("t")
    c = t.span("productpage", "client", start_us=T0)
    first = Ingest(RedAggregates())
    first.feed(orjson.dumps(response(t)))
    path = tmp_path / "s.msgpack"
    state.save(path, state.State(state.VERSION, T0 + BUCKET_US, first.snapshot()))

    loaded = state.load(path)
    assert loaded is not None and loaded.watermark_us == T0 + BUCKET_US
    agg = RedAggregates()
    second = Ingest(agg)
    second.restore(loaded.window)
    t.span("details", "server", parent=c, start_us=T0 + 10)
    second.feed(orjson.dumps(response(t)))
    assert second.pairer.accepted == 1 and second.pairer.duplicates == 1
    assert [(k[:2], s.total) for k, s in agg.edges.items()] == [(("productpage", "details"), 1.0)]


def test_eviction_forgets_trace_marks_and_reports_unpaired() -> None:
    agg = RedAggregates()
    ingest = Ingest(agg)
    t = TraceBuilder("t")
    t.span("productpage", "client", start_us=T0, parent="gone")
    ingest.feed(orjson.dumps(response(t)))
    ingest.evict(T0 + 2 * BUCKET_US)
    assert ingest.traces == {} and ingest.pairer.seen == {}
    assert agg.unpaired_spans == {("productpage", "", ""): 1.0}


def test_unreadable_state_file_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "s.msgpack"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="move it away"):
        state.load(path)
    assert state.load(tmp_path / "missing") is None


def otlp_answer(*traces: tuple[str, int] | tuple[str, int, int]) -> bytes:
    """An api/v3 answer: for each (trace id, n[, start in us, T0 by default]), a productpage client span and n - 1
    details server spans under it, 1 ms later."""
    clients, servers = [], []
    for tid, n, *at in traces:
        span_id = tid[-14:]  # unique per trace
        ns = (at[0] if at else T0) * 1000
        clients.append({"traceId": tid, "spanId": f"{span_id}00", "kind": 3, "name": "GET",
                        "startTimeUnixNano": str(ns), "endTimeUnixNano": str(ns + 5000)})
        servers += [{"traceId": tid, "spanId": f"{span_id}{i:02x}", "parentSpanId": f"{span_id}00", "kind": 2,
                     "name": "GET", "startTimeUnixNano": str(ns + 1000),
                     "endTimeUnixNano": str(ns + 4000)} for i in range(1, n)]
    return orjson.dumps({"result": {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
         "scopeSpans": [{"spans": spans}]} for service, spans in (("productpage", clients), ("details", servers))]}})


@pytest.fixture
def spans_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The trace id of every api/v3 span read (decoded into a Span record)."""
    from observe.traces import otlp

    read: list[str] = []
    real = otlp._span

    def counting(s, *args):  # type: ignore[no-untyped-def]
        read.append(s.traceId)
        return real(s, *args)

    monkeypatch.setattr(otlp, "_span", counting)
    return read


def test_an_otlp_trace_seen_unchanged_is_skipped_unread_but_still_counted_in_the_answer(spans_read: list[str]) -> None:
    agg = RedAggregates()
    ingest = Ingest(agg)
    body = otlp_answer(("a1" * 16, 2), ("b2" * 16, 3))
    assert ingest.feed_otlp(body) == 2
    assert len(spans_read) == 5
    assert sum(s.total for s in agg.edges.values()) == 2  # one productpage -> details request per trace
    # The same answer again (the next service's, or the next overlap window's): nothing is read, every span is a
    # duplicate, and the answer still holds two traces (a full answer must still split the range).
    assert ingest.feed_otlp(body) == 2
    assert len(spans_read) == 5
    assert (ingest.pairer.accepted, ingest.pairer.duplicates) == (5, 5)
    assert sum(s.total for s in agg.edges.values()) == 2


def test_an_otlp_trace_that_grew_is_read_again_and_only_new_spans_count(spans_read: list[str]) -> None:
    ingest = Ingest(RedAggregates())
    ingest.feed_otlp(otlp_answer(("a1" * 16, 2), ("b2" * 16, 2)))
    assert ingest.feed_otlp(otlp_answer(("a1" * 16, 2), ("b2" * 16, 3))) == 2
    assert sorted(spans_read) == ["a1" * 16] * 2 + ["b2" * 16] * 5  # b2 read twice: 2 spans, then 3
    assert (ingest.pairer.accepted, ingest.pairer.duplicates) == (5, 4)


def test_another_shards_otlp_trace_is_never_read(spans_read: list[str]) -> None:
    from observe.traces.ingest import trace_shard

    ids = [f"{i:032x}" for i in range(1, 40)]
    mine = [t for t in ids if trace_shard(t, 2) == 0]
    ingest = Ingest(RedAggregates(), shard=0, total_shards=2)
    assert ingest.feed_otlp(otlp_answer(*((t, 2) for t in ids))) == len(ids)
    assert sorted(set(spans_read)) == sorted(mine)
    assert ingest.other_shard == 2 * (len(ids) - len(mine))
    assert ingest.pairer.accepted == 2 * len(mine)


def test_an_otlp_mark_from_an_older_state_file_is_read_once_then_skipped(spans_read: list[str]) -> None:
    ingest = Ingest(RedAggregates())
    ingest.traces["a1" * 16] = (-1, 2, T0 // BUCKET_US)  # what versions before the api/v3 marks saved
    body = otlp_answer(("a1" * 16, 2))
    ingest.feed_otlp(body)
    ingest.feed_otlp(body)
    assert len(spans_read) == 2


def test_an_otlp_answers_extent_spans_its_traces_read_or_not() -> None:
    from observe.traces.ingest import trace_shard

    ids = [f"{i:032x}" for i in range(1, 21)]
    answer = otlp_answer(*((t, 3, T0 + i * 500_000) for i, t in enumerate(ids)))
    ingest = Ingest(RedAggregates(), shard=0, total_shards=2)
    ingest.feed_otlp(answer)
    assert ingest.extent == (T0, T0 + 19 * 500_000)  # another shard's traces too, by their earliest span
    ours = [i for i, t in enumerate(ids) if trace_shard(t, 2) == 0]
    assert (ours[0], ours[-1]) != (0, 19)  # so ours alone would have given a narrower extent
    ingest.feed_otlp(answer)  # every trace skipped unread now
    assert ingest.extent == (T0, T0 + 19 * 500_000)
    ingest.feed_otlp(otlp_answer((ids[0], 2)))
    assert ingest.extent is None  # one trace gives no width


def test_an_api_v1_answers_extent_spans_the_traces_it_decoded() -> None:
    traces = []
    for i in range(3):
        t = TraceBuilder(f"t{i}")
        t.span("productpage", "client", start_us=T0 + i * 1_000_000)
        traces.append(t)
    ingest = Ingest(RedAggregates())
    body = orjson.dumps(response(*traces))
    ingest.feed(body)
    assert ingest.extent == (T0, T0 + 2_000_000)
    ingest.feed(body)  # api/v1's spans are not read when a trace is skipped
    assert ingest.extent is None
