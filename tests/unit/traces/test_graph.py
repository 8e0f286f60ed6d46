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
