"""RED aggregation of paired spans: servicegraph and spanmetrics series, with exemplars and a series budget.

The families are kept in plain dicts rather than prometheus_client metrics: the hot path adds
sampling weights (float counts), keeps one exemplar per bucket, and costs one dict lookup per
span; exposition.py renders them at scrape time.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

from observe.traces.model import (
    CONN_DATABASE,
    CONN_MESSAGING,
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_PRODUCER,
    KIND_SERVER,
    STATUS_ERROR,
    Span,
)

# The OpenTelemetry collector's servicegraph and spanmetrics connector defaults, in seconds (16 bounds, 2 ms to 15 s).
SERVICE_GRAPH_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0)
SPAN_METRICS_BUCKETS = SERVICE_GRAPH_BUCKETS
WINDOW_BUCKET_S = 10  # time resolution of the graph's rates
WINDOW_BUCKET_US = WINDOW_BUCKET_S * 1_000_000
# Durations kept per graph window slot, for exact percentiles on the /graph page; a busier slot keeps counting in
# buckets only, and its percentiles are shown as bucket bounds.
SAMPLES_PER_SLOT = 4096

Exemplar = tuple[str, float, float]  # trace id, value, unix time


class BucketCounts:
    """Bucket counts (not cumulative; the last is +Inf), their sum, and the latest exemplar per bucket."""

    __slots__ = ("bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * (len(bounds) + 1)
        self.exemplars: list[Exemplar | None] = [None] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, weight: float, trace_id: str, at: float) -> None:
        """Add one observation of `value` seconds counting `weight` requests."""
        i = bisect_left(self.bounds, value)  # `le` is inclusive: value == bound lands in that bucket
        self.counts[i] += weight
        self.sum += value * weight
        self.exemplars[i] = (trace_id, value, at)

    @property
    def count(self) -> float:
        return sum(self.counts)


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The q-quantile from bucket counts, interpolated inside the bucket like histogram_quantile()."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, c in enumerate(counts):
        if seen + c >= rank and c > 0:
            if i == len(bounds):
                return bounds[-1] if bounds else None  # in +Inf: the highest finite bound, as Prometheus does
            lower = bounds[i - 1] if i > 0 else 0.0
            return lower + (bounds[i] - lower) * ((rank - seen) / c)
        seen += c
    return bounds[-1] if bounds else None


class EdgeSeries:
    """One servicegraph series: requests, failures, and server and client latency."""

    __slots__ = ("client", "failed", "server", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.total = 0.0
        self.failed = 0.0
        self.server = BucketCounts(bounds)
        self.client = BucketCounts(bounds)


class Window:
    """Recent requests, errors, latency bucket counts and durations in 10 s slots, for the graph page."""

    __slots__ = ("bounds", "full", "samples", "slots")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.slots: dict[int, list[float]] = {}  # slot -> [requests, errors, bucket counts...]
        self.samples: dict[int, list[float]] = {}  # slot -> durations in seconds (up to SAMPLES_PER_SLOT)
        self.full: set[int] = set()  # slots that had more durations than they keep

    def add(self, start_us: int, value: float, weight: float, error: bool) -> None:
        """Count one request of `value` seconds that started at start_us."""
        slot = start_us // WINDOW_BUCKET_US
        row = self.slots.get(slot) or self.new_row(slot)
        row[0] += weight
        if error:
            row[1] += weight
        row[2 + bisect_left(self.bounds, value)] += weight
        self.sample(slot, value)

    def sample(self, slot: int, value: float) -> None:
        """Keep one duration for exact percentiles."""
        kept = self.samples.get(slot)
        if kept is None:
            self.samples[slot] = [value]
        elif len(kept) < SAMPLES_PER_SLOT:
            kept.append(value)
        else:
            self.full.add(slot)

    def percentile(self, q: float, since_s: float, until_s: float) -> tuple[float, float, float] | None:
        """(value, low, high) in seconds over [since_s, until_s): exact (low == high == value) from the kept
        durations when every slot kept all of them, else the bucket bounds that hold the q-quantile."""
        lo, hi = int(since_s) // WINDOW_BUCKET_S, int(until_s) // WINDOW_BUCKET_S
        slots = [slot for slot in self.slots if lo <= slot < hi]
        if not slots:
            return None
        if not any(slot in self.full for slot in slots):
            values = sorted(v for slot in slots for v in self.samples.get(slot, ()))
            if values:
                exact = values[max(0, math.ceil(q * len(values)) - 1)]  # nearest rank, as `traces analyze`
                return exact, exact, exact
        counts = self.totals(since_s, until_s)[2:]
        estimate = quantile(q, self.bounds, counts)
        if estimate is None:
            return None
        i = bisect_left(self.bounds, estimate)
        low = self.bounds[i - 1] if i > 0 else 0.0
        high = self.bounds[i] if i < len(self.bounds) else math.inf
        return estimate, low, high

    def new_row(self, slot: int) -> list[float]:
        """An empty row for a new slot."""
        row = self.slots[slot] = [0.0] * (len(self.bounds) + 3)
        return row

    def totals(self, since_s: float, until_s: float) -> list[float]:
        """Requests, errors and bucket counts of the slots in [since_s, until_s)."""
        lo, hi = int(since_s) // WINDOW_BUCKET_S, int(until_s) // WINDOW_BUCKET_S
        out = [0.0] * (len(self.bounds) + 3)
        for slot, row in self.slots.items():
            if lo <= slot < hi:
                for i, v in enumerate(row):
                    out[i] += v
        return out

    def prune(self, before_s: float) -> None:
        limit = int(before_s) // WINDOW_BUCKET_S
        for slot in [s for s in self.slots if s < limit]:
            del self.slots[slot]
            self.samples.pop(slot, None)
            self.full.discard(slot)


EdgeKey = tuple[str, str, str, str]  # client, server, connection_type, failed ("true"/"false")
UnpairedKey = tuple[str, str, str]  # client, server, connection_type
SpanKey = tuple[str, str, int, int]  # service_name, span_name, kind, status (labels at render time)


class RedAggregates:
    """A pairing sink that keeps the servicegraph and spanmetrics families and the graph windows."""

    def __init__(self, max_series: int = 10_000, graph_bounds: Sequence[float] = SERVICE_GRAPH_BUCKETS,
                 span_bounds: Sequence[float] = SPAN_METRICS_BUCKETS) -> None:
        self.max_series = max_series
        self.graph_bounds = tuple(graph_bounds)
        self.span_bounds = tuple(span_bounds)
        self.edges: dict[EdgeKey, EdgeSeries] = {}
        self.spans: dict[SpanKey, BucketCounts] = {}
        self.unpaired_spans: dict[UnpairedKey, float] = {}
        self.dropped_spans: dict[UnpairedKey, float] = {}
        self.node_names: dict[str, tuple[str, str]] = {}  # service -> (canonical service, namespace) when tagged
        self.series_dropped: dict[str, int] = {}
        self.edge_windows: dict[tuple[str, str], Window] = {}
        self.node_windows: dict[str, Window] = {}
        self.jaeger_services: set[str] = set()
        self.generation = 0  # bumped on every change, so rendered text can be cached

    def _drop(self, family: str) -> None:
        self.series_dropped[family] = self.series_dropped.get(family, 0) + 1

    def span(self, span: Span) -> None:
        """spanmetrics for every span; node stats for spans that answered a request."""
        # Runs once per span: BucketCounts.observe and Window.add are inlined here and in pair(), saving
        # about 0.3 µs of calls per span.
        self.generation += 1
        service, kind, weight, duration_us = span.service, span.kind, span.weight, span.duration_us
        naming = span.naming
        if naming[0] and service not in self.node_names and len(self.node_names) < self.max_series:
            self.node_names[service] = (naming[0], naming[1])
        seconds = duration_us / 1e6
        i = bisect_left(self.span_bounds, seconds)  # `le` is inclusive: value == bound lands in that bucket
        key = (service, span.name, kind, span.status)
        hist = self.spans.get(key)
        if hist is None:
            if len(self.spans) >= self.max_series:
                self._drop("traces_span_metrics")
            else:
                hist = self.spans[key] = BucketCounts(self.span_bounds)
        if hist is not None:
            hist.counts[i] += weight
            hist.sum += seconds * weight
            hist.exemplars[i] = (span.trace_id, seconds, (span.start_us + duration_us) / 1e6)
        # Requests a service answered: its server spans, and gateway client spans that start a trace.
        if kind == KIND_SERVER or (kind == KIND_CLIENT and not span.parent_id):
            window = self.node_windows.get(service)
            if window is None:
                window = self._new_node(service)
            if window is not None:  # node windows use the span buckets: index i holds
                slot = span.start_us // WINDOW_BUCKET_US
                row = window.slots.get(slot) or window.new_row(slot)
                row[0] += weight
                if span.status == STATUS_ERROR:
                    row[1] += weight
                row[2 + i] += weight
                kept = window.samples.get(slot)  # Window.sample inlined
                if kept is None:
                    window.samples[slot] = [seconds]
                elif len(kept) < SAMPLES_PER_SLOT:
                    kept.append(seconds)
                else:
                    window.full.add(slot)

    def _new_node(self, service: str) -> Window | None:
        if len(self.node_windows) >= self.max_series:
            self._drop("graph_nodes")
            return None
        self.jaeger_services.add(service)
        window = self.node_windows[service] = Window(self.span_bounds)
        return window

    def _node(self, span: Span, seconds: float) -> None:
        window = self.node_windows.get(span.service) or self._new_node(span.service)
        if window is not None:
            window.add(span.start_us, seconds, span.weight, span.status == STATUS_ERROR)

    def pair(self, client: Span, server: Span, connection: str = "") -> None:
        """One request between two services (connection: the servicegraph connection_type)."""
        self.generation += 1
        client_service, server_service = client.service, server.service
        failed = client.status == STATUS_ERROR or server.status == STATUS_ERROR
        key = (client_service, server_service, connection, "true" if failed else "false")
        series = self.edges.get(key)
        if series is None:
            if len(self.edges) >= self.max_series:
                self._drop("traces_service_graph")
                self._dropped_span(key[:3], client.weight)
                return
            series = self.edges[key] = EdgeSeries(self.graph_bounds)
        weight = client.weight
        series.total += weight
        if failed:
            series.failed += weight
        client_us = client.duration_us
        end_s = (client.start_us + client_us) / 1e6
        server_s = server.duration_us / 1e6
        client_s = client_us / 1e6
        bounds = self.graph_bounds
        hist = series.server
        i = bisect_left(bounds, server_s)
        hist.counts[i] += weight
        hist.sum += server_s * weight
        hist.exemplars[i] = (server.trace_id, server_s, end_s)
        hist = series.client
        i = bisect_left(bounds, client_s)
        hist.counts[i] += weight
        hist.sum += client_s * weight
        hist.exemplars[i] = (client.trace_id, client_s, end_s)
        window = self.edge_windows.get((client_service, server_service))
        if window is None:  # finer buckets for the graph's p95
            window = self.edge_windows[(client_service, server_service)] = Window(self.span_bounds)
        slot = client.start_us // WINDOW_BUCKET_US
        row = window.slots.get(slot) or window.new_row(slot)
        row[0] += weight
        if failed:
            row[1] += weight
        row[2 + bisect_left(self.span_bounds, client_s)] += weight
        kept = window.samples.get(slot)  # Window.sample inlined
        if kept is None:
            window.samples[slot] = [client_s]
        elif len(kept) < SAMPLES_PER_SLOT:
            kept.append(client_s)
        else:
            window.full.add(slot)
        if server.kind == KIND_CLIENT and server.parent_id:
            self._node(server, server_s)  # a gateway reached by a traced caller answered this request

    def unpaired(self, span: Span) -> None:
        """A span whose partner never came, by its side and connection_type."""
        self.generation += 1
        caller = span.kind in (KIND_CLIENT, KIND_PRODUCER)
        messaging = span.conn == CONN_MESSAGING or span.kind in (KIND_PRODUCER, KIND_CONSUMER)
        conn = "messaging_system" if messaging else "database" if span.conn == CONN_DATABASE else ""
        key = (span.service, "", conn) if caller else ("", span.service, conn)
        if key not in self.unpaired_spans and len(self.unpaired_spans) >= self.max_series:
            self._drop("traces_service_graph_unpaired")
            self._dropped_span(key, span.weight)
            return
        self.unpaired_spans[key] = self.unpaired_spans.get(key, 0.0) + span.weight

    def _dropped_span(self, key: UnpairedKey, weight: float) -> None:
        # Spans not counted because their series did not fit the budget; past the budget, under one empty key.
        if key not in self.dropped_spans and len(self.dropped_spans) >= self.max_series:
            key = ("", "", "")
        self.dropped_spans[key] = self.dropped_spans.get(key, 0.0) + weight

    def prune(self, before_s: float) -> None:
        """Forget graph-window slots older than before_s."""
        for windows in (self.edge_windows, self.node_windows):
            for w in windows.values():
                w.prune(before_s)
