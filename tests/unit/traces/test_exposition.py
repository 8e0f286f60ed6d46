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
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response, tag


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
    ok = (("client", "reviews"), ("connection_type", ""), ("failed", "false"), ("server", "ratings"))
    bad = (("client", "reviews"), ("connection_type", ""), ("failed", "true"), ("server", "ratings"))
    assert got[("traces_service_graph_request_total", ok)] == 7
    assert got[("traces_service_graph_request_total", bad)] == 3
    assert got[("traces_service_graph_request_failed_total", bad)] == 3
    assert ("traces_service_graph_request_failed_total", ok) not in got  # as the collector: only failed series
    server = "traces_service_graph_request_server_seconds_bucket"
    # The collector's 16 default bounds, 2 ms to 15 s.
    les = sorted({dict(labels)["le"] for name, labels in got if name == server}, key=float)
    assert les == ["0.002", "0.004", "0.006", "0.008", "0.01", "0.05", "0.1", "0.2", "0.4", "0.8", "1.0", "1.4", "2.0",
                   "5.0", "10.0", "15.0", "+Inf"]
    assert got[(server, tuple(sorted((*bad, ("le", "0.05")))))] == 3
    assert got[(server, tuple(sorted((*ok, ("le", "0.2")))))] == 0
    assert got[(server, tuple(sorted((*ok, ("le", "0.4")))))] == 7
    assert got[("traces_service_graph_request_server_seconds_sum", ok)] == pytest.approx(7 * 0.3)
    calls = (("service_name", "ratings"), ("span_kind", "SPAN_KIND_SERVER"),
             ("span_name", "ratings.default.svc.cluster.local:9080/*"), ("status_code", "STATUS_CODE_ERROR"))
    assert got[("traces_span_metrics_calls_total", calls)] == 3
    # spanmetrics in milliseconds by default, as the collector's connector.
    ms = "traces_span_metrics_duration_milliseconds"
    assert got[(f"{ms}_bucket", tuple(sorted((*calls, ("le", "50.0")))))] == 3
    assert got[(f"{ms}_sum", calls)] == pytest.approx(150.0)
    seconds = samples(render(fed(*traffic()), openmetrics=False, span_unit="s"), openmetrics=False)
    assert seconds[("traces_span_metrics_duration_seconds_sum", calls)] == pytest.approx(0.15)


def test_openmetrics_carries_trace_id_exemplars_on_buckets() -> None:
    body = render(fed(*traffic()), openmetrics=True)
    families = list(parse_openmetrics(body.decode() + "# EOF\n"))
    buckets = [s for f in families if f.name == "traces_service_graph_request_server_seconds" for s in f.samples
               if s.name.endswith("_bucket") and s.labels["server"] == "ratings" and s.exemplar is not None]
    assert {s.labels["le"] for s in buckets} == {"0.05", "0.4"}
    assert all(len(s.exemplar.labels["trace_id"]) == 32 for s in buckets)
    assert {f.name for f in families} >= {"traces_service_graph_request", "traces_span_metrics_duration_milliseconds"}


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


def test_connection_types_as_the_collector_sets_them() -> None:
    t = TraceBuilder("c" * 32)
    root = t.span("shop", "server")  # no traced caller: the virtual client "user"
    t.span("shop", "client", parent=root, extra_tags=[tag("db.system", "postgresql"), tag("db.name", "orders")])
    t.span("shop", "client", parent=root, extra_tags=[tag("peer.service", "payments-saas")])  # outside the mesh
    t.span("shop", "client", parent=root, name="no-peer")  # nobody answered, nothing names the peer
    producer = t.span("shop", "producer", parent=root, extra_tags=[tag("messaging.system", "kafka")])
    t.span("mailer", "consumer", parent=producer)
    got = samples(render(fed(t), openmetrics=False), openmetrics=False)
    edges = {(dict(lb)["client"], dict(lb)["server"], dict(lb)["connection_type"]): v for (name, lb), v in got.items()
             if name == "traces_service_graph_request_total"}
    assert edges == {("user", "shop", "virtual_node"): 1, ("shop", "orders", "database"): 1,
                     ("shop", "payments-saas", "virtual_node"): 1, ("shop", "mailer", "messaging_system"): 1}
    unpaired = {k: v for k, v in got.items() if k[0] == "traces_service_graph_unpaired_spans_total"}
    assert unpaired == {("traces_service_graph_unpaired_spans_total",
                         (("client", "shop"), ("connection_type", ""), ("server", ""))): 1}


def test_dropped_spans_are_counted_when_the_edge_budget_is_full() -> None:
    t = TraceBuilder("d" * 32)
    for i in range(4):
        t.call("front", f"back-{i}")
    agg = fed(t, max_series=2)
    got = samples(render(agg, openmetrics=False), openmetrics=False)
    dropped = {dict(lb)["server"]: v for (name, lb), v in got.items() if name == "traces_service_graph_dropped_spans_total"}
    assert sum(dropped.values()) == 2 and len(agg.edges) == 2
