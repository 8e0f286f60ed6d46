"""From Jaeger answers to aggregates: decode, skip traces already seen whole, dedupe spans, pair, aggregate."""

from __future__ import annotations

import zlib
from operator import attrgetter

import msgspec

from observe.traces.aggregate import RedAggregates
from observe.traces.model import Span, decode_response_bounded, decode_spans_or_skip, gc_paused
from observe.traces.names import NameNormaliser
from observe.traces.otlp import decode_traces
from observe.traces.pairing import BUCKET_US, Pairer

_start_us = attrgetter("start_us")
TraceMark = tuple[int, int, int]  # raw size of its spans and processes, span count, start bucket of its newest span


class Ingest:
    """Owns the window: the pairer's span ids and waiting spans, and a size mark per trace.

    The same trace comes back once per service it touches and again in every overlap window. When its
    raw size has not changed since we decoded it, it has no new spans, so it is skipped undecoded.
    """

    def __init__(self, aggregates: RedAggregates, sampling_rate: float = 1.0, horizon_us: int = 0,
                 shard: int = 0, total_shards: int = 1) -> None:
        self.aggregates = aggregates
        self.sampling_rate = sampling_rate
        self.pairer = Pairer(aggregates, horizon_us)
        self.names = NameNormaliser()
        self.traces: dict[str, TraceMark] = {}
        # Input not used as sent, by reason (trace_too_deep, trace_malformed, span_malformed, spans_malformed,
        # sampler_param_out_of_range).
        self.rejected: dict[str, int] = {}
        self.shard = shard
        self.total_shards = total_shards
        self.other_shard = 0  # spans of traces another puller owns
        # The earliest and latest trace start (microseconds) among the traces of the last answer whose start could
        # be read without decoding more than the skip needs; None when fewer than two were. The puller sizes the
        # pieces of a full answer's range from it.
        self.extent: tuple[int, int] | None = None

    def mine(self, trace_id: str) -> bool:
        """Whether this puller owns the trace: every puller reads the same answers and keeps one share of the
        traces, so all spans of a trace are paired in one place (sharding by service would split pairs)."""
        return self.total_shards == 1 or trace_shard(trace_id, self.total_shards) == self.shard

    def feed(self, body: bytes) -> int:
        """Take one /api/traces answer; returns how many traces it held."""
        starts: list[int] = []  # api/v1's spans are read only for the traces decoded
        with gc_paused():
            traces = decode_response_bounded(body, self.rejected) or []
            for trace in traces:
                mark = len(trace.spans) + len(trace.processes)
                if self._wanted(trace.traceID, len(trace.spans), mark):
                    spans = decode_spans_or_skip(trace, self.sampling_rate, self.names, self.rejected)
                    self._take(trace.traceID, mark, spans)
                    if spans:
                        starts.append(min(map(_start_us, spans)))
        self.extent = _extent(starts)
        return len(traces)

    def feed_otlp(self, body: bytes) -> int:
        """Take one api/v3 (OTLP JSON) answer; returns how many traces it held.

        api/v3 gives no raw sizes, so a trace's mark is its span count in the answer (as -1 - count, apart from
        api/v1's sizes; -1, from a state file of an older version, is never skipped): a trace that comes back with
        as many spans as when it was decoded is skipped undecoded, and so is another shard's trace."""
        marks: dict[str, int] = {}  # every trace of the answer, by its span count in it (malformed spans too)
        starts: list[int] = []  # and its start, read or not

        def wanted(trace_id: str, count: int, start_us: int) -> bool:
            marks[trace_id] = -1 - count
            if start_us:
                starts.append(start_us)
            return self._wanted(trace_id, count, marks[trace_id])

        with gc_paused():
            traces = decode_traces(body, self.sampling_rate, self.names, self.rejected, wanted)
            for trace_id, spans in traces.items():
                self._take(trace_id, marks[trace_id], spans)
        self.extent = _extent(starts)
        # Every trace of the answer, decoded or not: a full answer makes the puller ask its range again in pieces.
        return len(marks)

    def _wanted(self, trace_id: str, count: int, mark: int) -> bool:
        """Whether to decode a trace of `count` spans in the answer: not another shard's (counted as other_shard),
        not one already decoded with the same mark (its spans counted as duplicates)."""
        if self.total_shards > 1 and not self.mine(trace_id):
            self.other_shard += count
            return False
        known = self.traces.get(trace_id)
        if known is not None and known[0] == mark:
            self.pairer.duplicates += known[1]
            return False
        return True

    def _take(self, trace_id: str, mark: int, spans: list[Span]) -> None:
        newest = max(map(_start_us, spans), default=0)
        self.traces[trace_id] = (mark, len(spans), newest // BUCKET_US)
        self.pairer.add_all(spans)

    def evict(self, horizon_us: int) -> None:
        """Move the horizon: forget older spans and traces, reporting what stayed unpaired."""
        with gc_paused():
            self.pairer.evict(horizon_us)
            limit = self.pairer.horizon_us // BUCKET_US
            for tid in [t for t, mark in self.traces.items() if mark[2] < limit]:
                del self.traces[tid]

    def snapshot(self) -> Window:
        """The window as plain lists for the state file."""
        p = self.pairer
        return Window(seen=list(p.seen.items()), clients=list(p.clients.values()),
                      orphans=[s for kids in p.orphans.values() for s in kids],
                      traces=[(tid, *mark) for tid, mark in self.traces.items()])

    def restore(self, window: Window) -> None:
        """Load a saved window (counters are not restored: what was counted stays counted once)."""
        p = self.pairer
        for sid, bucket in window.seen:
            p.seen[sid] = bucket
            p.buckets.setdefault(bucket, []).append(sid)
        for span in window.clients:
            p.clients[span.span_id] = span
        for span in window.orphans:
            p.orphans.setdefault(span.parent_id, []).append(span)
        for tid, mark, count, bucket in window.traces:
            self.traces[tid] = (mark, count, bucket)


def _extent(starts: list[int]) -> tuple[int, int] | None:
    return (min(starts), max(starts)) if len(starts) >= 2 else None


def trace_shard(trace_id: str, total_shards: int) -> int:
    """The shard of a trace: a hash of its id, with leading zeros dropped (some APIs print 16 hex digits, some 32)."""
    return zlib.crc32(trace_id.lower().lstrip("0").encode()) % total_shards


class Window(msgspec.Struct, array_like=True):
    """The part of the window a restart needs: span ids seen, spans waiting for partners, trace marks."""

    seen: list[tuple[str, int]]
    clients: list[Span]
    orphans: list[Span]
    traces: list[tuple[str, int, int, int]]
