"""Renders the servicegraph and spanmetrics families as Prometheus text or OpenMetrics (with exemplars)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from observe.exposition import escape, header, zip_labels
from observe.traces.aggregate import BucketCounts, RedAggregates
from observe.traces.model import KIND_LABELS, STATUS_LABELS


def _num(value: float) -> str:
    # Every value as a float ("1.0"), as prometheus_client writes them.
    return repr(float(value))


def _counter(out: list[str], name: str, help_text: str, label_names: Sequence[str],
             series: Iterable[tuple[Sequence[str], float]], openmetrics: bool) -> None:
    rows = [f"{name}{{{zip_labels(label_names, values)}}} {_num(v)}\n" for values, v in series]
    if rows:
        out.append(header(name, "counter", help_text, openmetrics))
        out.extend(rows)


def _histogram(out: list[str], name: str, help_text: str, label_names: Sequence[str],
               series: Iterable[tuple[Sequence[str], BucketCounts]], openmetrics: bool, scale: float = 1.0) -> None:
    """BucketCounts families; `scale` converts the seconds the aggregates keep (1000 for milliseconds)."""
    header_done = False
    for values, hist in series:
        if not header_done:
            out.append(header(name, "histogram", help_text, openmetrics))
            header_done = True
        base = zip_labels(label_names, values)
        cumulative = 0.0
        les = [*(_num(b * scale) for b in hist.bounds), "+Inf"]
        for le, count, exemplar in zip(les, hist.counts, hist.exemplars, strict=True):
            cumulative += count
            line = f'{name}_bucket{{{base},le="{le}"}} {_num(cumulative)}'
            if openmetrics and exemplar is not None:
                trace_id, value, at = exemplar
                line += f' # {{trace_id="{escape(trace_id)}"}} {_num(value * scale)} {at:.3f}'
            out.append(line + "\n")
        out.append(f"{name}_count{{{base}}} {_num(cumulative)}\n{name}_sum{{{base}}} {_num(hist.sum * scale)}\n")


# The OpenTelemetry collector's servicegraph and spanmetrics connector labels.
EDGE = ("client", "server", "connection_type", "failed")
UNPAIRED = ("client", "server", "connection_type")
SPAN = ("service_name", "span_name", "span_kind", "status_code")
SPAN_DURATION = {"ms": ("traces_span_metrics_duration_milliseconds", 1000.0),
                 "s": ("traces_span_metrics_duration_seconds", 1.0)}


def render(agg: RedAggregates, openmetrics: bool, span_unit: str = "ms") -> bytes:
    """Every family with at least one series, in the requested format (without the OpenMetrics # EOF);
    span_unit names the spanmetrics duration unit ("ms", the collector's default, or "s")."""
    out: list[str] = []
    edges = sorted(agg.edges.items())
    _counter(out, "traces_service_graph_request_total", "Requests between two services, from paired spans.",
             EDGE, ((k, s.total) for k, s in edges), openmetrics)
    _counter(out, "traces_service_graph_request_failed_total",
             "Failed requests between two services (either side's span is an error).",
             EDGE, ((k, s.failed) for k, s in edges if s.failed), openmetrics)
    _histogram(out, "traces_service_graph_request_server_seconds", "Request time seen by the server's proxy.",
               EDGE, ((k, s.server) for k, s in edges), openmetrics)
    _histogram(out, "traces_service_graph_request_client_seconds", "Request time seen by the client's proxy.",
               EDGE, ((k, s.client) for k, s in edges), openmetrics)
    _counter(out, "traces_service_graph_unpaired_spans_total",
             "Client or server spans whose partner did not arrive within the overlap window.",
             UNPAIRED, sorted(agg.unpaired_spans.items()), openmetrics)
    _counter(out, "traces_service_graph_dropped_spans_total",
             "Spans not counted in the service graph because the series budget was full.",
             UNPAIRED, sorted(agg.dropped_spans.items()), openmetrics)
    spans = sorted(((svc, name, KIND_LABELS[kind], STATUS_LABELS[status]), hist)
                   for (svc, name, kind, status), hist in agg.spans.items())
    _counter(out, "traces_span_metrics_calls_total", "Spans by service, normalised name, kind and status.",
             SPAN, ((k, h.count) for k, h in spans), openmetrics)
    duration, scale = SPAN_DURATION[span_unit]
    _histogram(out, duration, "Span durations by service, name, kind and status.", SPAN, spans, openmetrics, scale)
    _counter(out, "observe_traces_series_dropped_total", "Series not created because the family's budget was full.",
             ("family",), (((f,), float(n)) for f, n in sorted(agg.series_dropped.items())), openmetrics)
    return "".join(out).encode()


class CachedExposition:
    """Re-renders only when the aggregates changed since the last scrape."""

    def __init__(self, agg: RedAggregates, span_unit: str = "ms") -> None:
        self.agg = agg
        self.span_unit = span_unit
        self._cache: dict[bool, tuple[int, bytes]] = {}

    def __call__(self, openmetrics: bool) -> bytes:
        """The rendered families for this format."""
        hit = self._cache.get(openmetrics)
        if hit is not None and hit[0] == self.agg.generation:
            return hit[1]
        body = render(self.agg, openmetrics, self.span_unit)
        self._cache[openmetrics] = (self.agg.generation, body)
        return body
