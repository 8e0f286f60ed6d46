"""RED aggregates rendered as Prometheus text and OpenMetrics: names, bucket counts, exemplars, budget."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from observe.traces.aggregate import RedAggregates, quantile
from observe.traces.exposition import CachedExposition, render
from observe.traces.model import iter_spans
from observe.traces.names import NameNormaliser
from observe.traces.pairing import Pairer
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response


def fed(*traces: TraceBuilder, max_series: int = 10_000) -> RedAggregates:
    agg = RedAggregates(max_series=max_series)
    pairer = Pairer(agg)
    for span in iter_spans(orjson.dumps(response(*traces)), name_of=NameNormaliser()):
        pairer.add(span)
    pairer.flush()
    return agg


def traffic() -> list[TraceBuilder]:
    # 10 requests; ratings takes 50 ms (x3, failing) or 300 ms (x7).
    return [bookinfo(f"{i:032x}", ratings_status=503 if i < 3 else 200, ratings_us=50_000 if i < 3 else 300_000)
            for i in range(10)]


def samples(body: bytes, openmetrics: bool) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = parse_openmetrics(body.decode() + "# EOF\n") if openmetrics else parse_text(body.decode())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_servicegraph_counts_and_buckets_for_seeded_traffic() -> None:
    got = samples(render(fed(*traffic()), openmetrics=False), openmetrics=False)
    edge = (("client", "reviews"), ("connection_type", ""), ("server", "ratings"))
    assert got[("traces_service_graph_request_total", edge)] == 10
    assert got[("traces_service_graph_request_failed_total", edge)] == 3
    server = "traces_service_graph_request_server_seconds_bucket"
    assert got[(server, tuple(sorted((*edge, ("le", "0.1")))))] == 3
    assert got[(server, tuple(sorted((*edge, ("le", "0.2")))))] == 3
    assert got[(server, tuple(sorted((*edge, ("le", "0.4")))))] == 10
    assert got[(server, tuple(sorted((*edge, ("le", "+Inf")))))] == 10
    assert got[("traces_service_graph_request_server_seconds_sum", edge)] == 3 * 0.05 + 7 * 0.3
    calls = (("service_name", "ratings"), ("span_kind", "SPAN_KIND_SERVER"),
             ("span_name", "ratings.default.svc.cluster.local:9080/*"), ("status_code", "STATUS_CODE_ERROR"))
    assert got[("traces_span_metrics_calls_total", calls)] == 3


def test_openmetrics_carries_trace_id_exemplars_on_buckets() -> None:
    body = render(fed(*traffic()), openmetrics=True)
    families = list(parse_openmetrics(body.decode() + "# EOF\n"))
    buckets = [s for f in families if f.name == "traces_service_graph_request_server_seconds" for s in f.samples
               if s.name.endswith("_bucket") and s.labels["server"] == "ratings" and s.exemplar is not None]
    assert {s.labels["le"] for s in buckets} == {"0.1", "0.4"}
    assert all(len(s.exemplar.labels["trace_id"]) == 32 for s in buckets)
    assert {f.name for f in families} >= {"traces_service_graph_request", "traces_span_metrics_duration_seconds"}


def test_series_budget_counts_what_it_drops() -> None:
    t = TraceBuilder("t")
    for i in range(5):
        t.span("svc", "server", name=f"op-{i}-x")
    agg = fed(t, max_series=3)
    assert len(agg.spans) == 3
    got = samples(render(agg, openmetrics=False), openmetrics=False)
    assert got[("observe_traces_series_dropped_total", (("family", "traces_span_metrics"),))] == 2


def test_label_values_are_escaped() -> None:
    t = TraceBuilder("t")
    t.span('we"ird\\svc\n', "server")
    got = samples(render(fed(t), openmetrics=False), openmetrics=False)
    assert any(dict(labels).get("service_name") == 'we"ird\\svc\n' for _, labels in got)


def test_cached_exposition_rerenders_only_after_changes() -> None:
    agg = fed(*traffic())
    cached = CachedExposition(agg)
    first = cached(False)
    assert cached(False) is first
    agg.span(next(iter_spans(orjson.dumps(response(bookinfo("ff" * 16))))))
    assert cached(False) is not first


def test_quantile_interpolates_inside_the_bucket() -> None:
    assert quantile(0.5, (0.1, 0.2), [0, 10, 0]) == pytest.approx(0.15)
    assert quantile(0.95, (0.1, 0.2), [0, 0, 4]) == 0.2
    assert quantile(0.5, (0.1,), [0, 0]) is None
