"""The /graph page model and HTML: numbers from the windows, layout for 50 services, escaping, links."""

from __future__ import annotations

import re

from observe.traces.aggregate import RedAggregates
from observe.traces.graph import NODE_H, NODE_W, build_graph, render_page
from observe.traces.model import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_UNSET, Span
from observe.traces.pairing import Pairer

T0 = 1_700_000_000_000_000
ids = iter(range(1, 10**9))


def call(pairer: Pairer, client: str, server: str, *, ms: int, error: bool = False, at_us: int = T0) -> None:
    c, s = f"{next(ids):016x}", f"{next(ids):016x}"
    status = STATUS_ERROR if error else STATUS_UNSET
    pairer.add(Span(c, "", f"{next(ids):032x}", client, "op", KIND_CLIENT, at_us, ms * 1000, status, 1.0))
    pairer.add(Span(s, c, "t", server, "op", KIND_SERVER, at_us + 10, ms * 900, status, 1.0))


def test_edge_numbers_are_rates_error_rates_and_p95_over_the_window() -> None:
    agg = RedAggregates()
    pairer = Pairer(agg)
    for i in range(100):
        call(pairer, "productpage", "reviews", ms=150, error=i < 10, at_us=T0 + i * 1000)
    graph = build_graph(agg, until_s=T0 / 1e6 + 60, window_s=100, jaeger_ui="http://jaeger:16686")
    (edge,) = graph.edges
    assert (edge.requests, edge.errors, edge.rate, edge.error_rate) == (100, 10, 1.0, 0.1)
    assert edge.p95_ms is not None and 100 < edge.p95_ms <= 200
    assert edge.color == "#c62828"
    assert edge.search.startswith("http://jaeger:16686/search?service=reviews")
    assert edge.trace.startswith("http://jaeger:16686/trace/")
    nodes = {n.name: n for n in graph.nodes}
    assert nodes["reviews"].requests == 100 and nodes["reviews"].errors == 10


def test_fifty_services_get_non_overlapping_boxes_inside_the_canvas() -> None:
    agg = RedAggregates()
    pairer = Pairer(agg)
    for i in range(49):
        call(pairer, "gateway" if i < 7 else f"svc-{i % 7:02d}", f"svc-{i:02d}", ms=5)
    graph = build_graph(agg, until_s=T0 / 1e6 + 10, window_s=60, jaeger_ui="")
    assert len(graph.nodes) == 50
    boxes = [(n.x, n.y) for n in graph.nodes]
    assert len(set(boxes)) == 50
    for x, y in boxes:
        assert 0 <= x and x + NODE_W <= graph.width and 0 <= y and y + NODE_H <= graph.height
    assert graph.height < 1000
    assert all(e.search == "" for e in graph.edges)  # no UI configured: no links


def test_page_escapes_names_and_refuses_script_links() -> None:
    agg = RedAggregates()
    pairer = Pairer(agg)
    call(pairer, "<script>alert(1)</script>", "x'y\"z", ms=5)
    html = render_page(build_graph(agg, until_s=T0 / 1e6 + 10, window_s=60, jaeger_ui="javascript:alert(1)//"))
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html
    # The JSON in data-info sits in single-quoted attributes: no raw single quote may end it early.
    for attr in re.findall(r"data-info='([^']*)'", html):
        assert attr.startswith("{") and attr.endswith("}")
    assert "<script src" not in html and "<link" not in html and "@import" not in html


def test_p95_is_exact_over_the_window_and_matches_traces_analyze() -> None:
    import orjson

    from observe.traces.analyze import analyze
    from tests.unit.traces.jaeger_json import TraceBuilder, response

    traces = []
    for i in range(40):
        t = TraceBuilder(f"{i:032x}")
        t.call("productpage", "reviews", start_us=T0 + i * 1000, client_us=1000 * (i + 1), server_us=900 * (i + 1))
        traces.append(t)
    body = orjson.dumps(response(*traces))
    agg = RedAggregates()
    pairer = Pairer(agg)
    from observe.traces.model import iter_spans
    pairer.add_all(iter_spans(body))
    graph = build_graph(agg, until_s=T0 / 1e6 + 60, window_s=100, jaeger_ui="")
    (edge,) = graph.edges
    (expected,) = analyze(body)["edges"]
    assert edge.p95_ms == expected["p95_ms"] == 38.0 and edge.p95_text == "38.0 ms"


def test_p95_says_approximately_with_bucket_bounds_when_the_window_kept_too_many() -> None:
    from observe.traces import aggregate

    agg = RedAggregates()
    pairer = Pairer(agg)
    for i in range(aggregate.SAMPLES_PER_SLOT + 10):
        call(pairer, "a", "b", ms=30, at_us=T0 + i)
    (edge,) = build_graph(agg, until_s=T0 / 1e6 + 60, window_s=100, jaeger_ui="").edges
    assert edge.p95_text.startswith("\u2248 ") and "(in 10\u201350 ms)" in edge.p95_text


def test_nodes_use_istio_canonical_service_grouped_by_namespace() -> None:
    agg = RedAggregates()
    pairer = Pairer(agg)
    reviews, ratings = ("reviews", "shop", "", 0), ("ratings", "data", "", 0)
    c = Span("c1", "", "t1", "reviews-v1.shop", "op", KIND_CLIENT, T0, 2000, STATUS_UNSET, 1.0, reviews)
    s = Span("s1", "c1", "t1", "ratings-v1.data", "op", KIND_SERVER, T0 + 5, 1500, STATUS_UNSET, 1.0, ratings)
    c2 = Span("c2", "", "t2", "reviews-v2.shop", "op", KIND_CLIENT, T0, 2000, STATUS_UNSET, 1.0, reviews)
    s2 = Span("s2", "c2", "t2", "ratings-v1.data", "op", KIND_SERVER, T0 + 5, 1500, STATUS_UNSET, 1.0, ratings)
    pairer.add_all([c, s, c2, s2])
    graph = build_graph(agg, until_s=T0 / 1e6 + 60, window_s=100, jaeger_ui="http://j:16686")
    assert [(n.namespace, n.name) for n in graph.nodes] == [("data", "ratings"), ("shop", "reviews")]
    (edge,) = graph.edges
    assert (edge.client, edge.server, edge.requests) == ("reviews", "ratings", 2)
    assert graph.namespaces == ["data", "shop"]
    html = render_page(graph)
    assert 'data-namespace="shop"' in html and "2 in 2 namespaces" in html
