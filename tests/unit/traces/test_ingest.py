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
