"""The /graph page: the current service graph as server-side SVG, laid out in columns by call depth."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import orjson

from observe.traces.aggregate import RedAggregates, quantile

NODE_W, NODE_H, ROW_H, COL_W, MAX_ROWS, MARGIN = 190, 38, 58, 370, 14, 30
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
# Compiled at import, not on the first request inside the event loop.
_TEMPLATE = _env.get_template("graph.html.j2")


@dataclass
class Node:
    """One service on the graph."""

    name: str
    requests: float = 0.0
    errors: float = 0.0
    rate: float = 0.0
    error_rate: float = 0.0
    p95_ms: float | None = None
    search: str = ""
    x: int = 0
    y: int = 0
    color: str = ""


@dataclass
class Edge:
    """Calls from one service to another."""

    client: str
    server: str
    requests: float = 0.0
    errors: float = 0.0
    rate: float = 0.0
    error_rate: float = 0.0
    p95_ms: float | None = None
    search: str = ""
    trace: str = ""
    path: str = ""
    label_x: int = 0
    label_y: int = 0
    color: str = ""
    width: float = 1.0


@dataclass
class Graph:
    """Everything the page shows."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    window_seconds: float = 0.0
    until: float = 0.0

    def to_json(self) -> bytes:
        """The graph as JSON (served at /graph.json)."""
        return orjson.dumps(asdict(self))


def color(error_rate: float, requests: float) -> str:
    """Green when healthy, amber from 1 % errors, red from 5 %, grey without traffic."""
    if requests <= 0:
        return "#9e9e9e"
    if error_rate >= 0.05:
        return "#c62828"
    if error_rate >= 0.01:
        return "#f9a825"
    return "#2e7d32"


def _ui_link(base: str, path: str, params: dict[str, str] | None = None) -> str:
    # Only http(s) bases become links; anything else in the config could be a script URL.
    if not base.startswith(("http://", "https://")):
        return ""
    return base.rstrip("/") + path + ("?" + urlencode(params) if params else "")


def _depths(names: list[str], edges: list[Edge]) -> dict[str, int]:
    """Columns: the shortest call depth from a service nobody calls (cycles cannot loop this)."""
    callees: dict[str, list[str]] = {n: [] for n in names}
    called = set()
    for e in edges:
        if e.client != e.server:
            callees[e.client].append(e.server)
            called.add(e.server)
    roots = [n for n in names if n not in called] or names[:1]
    depth = dict.fromkeys(roots, 0)
    queue = deque(roots)
    while queue:
        n = queue.popleft()
        for m in sorted(callees[n]):
            if m not in depth:
                depth[m] = depth[n] + 1
                queue.append(m)
    for n in names:
        depth.setdefault(n, 0)  # only reachable through a cycle among callers
    return depth


def _layout(graph: Graph) -> None:
    names = [n.name for n in graph.nodes]
    depth = _depths(names, graph.edges)
    columns: dict[int, list[Node]] = {}
    for node in sorted(graph.nodes, key=lambda n: n.name):
        columns.setdefault(depth[node.name], []).append(node)
    col = 0
    max_rows = 1
    for d in sorted(columns):
        members = columns[d]
        # A crowded depth wraps into more columns, so 50 services stay readable.
        for i in range(0, len(members), MAX_ROWS):
            chunk = members[i:i + MAX_ROWS]
            for row, node in enumerate(chunk):
                node.x, node.y = MARGIN + col * COL_W, MARGIN + row * ROW_H
            max_rows = max(max_rows, len(chunk))
            col += 1
    graph.width = MARGIN * 2 + max(col, 1) * COL_W - (COL_W - NODE_W)
    graph.height = MARGIN * 2 + max_rows * ROW_H + 40
    where = {n.name: n for n in graph.nodes}
    for e in graph.edges:
        a, b = where[e.client], where[e.server]
        if b.x > a.x:
            x1, y1, x2, y2 = a.x + NODE_W, a.y + NODE_H // 2, b.x, b.y + NODE_H // 2
            mid = (x1 + x2) // 2
            e.path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
            e.label_x, e.label_y = mid, (y1 + y2) // 2 - 4
        else:
            # Same column or a call back: loop under the boxes.
            x1, y1, x2, y2 = a.x + NODE_W // 2, a.y + NODE_H, b.x + NODE_W // 2, b.y + NODE_H
            low = max(y1, y2) + 30
            e.path = f"M{x1},{y1} C{x1},{low} {x2},{low} {x2},{y2}"
            e.label_x, e.label_y = (x1 + x2) // 2, low - 4


def build_graph(agg: RedAggregates, until_s: float, window_s: float, jaeger_ui: str) -> Graph:
    """The graph over [until_s - window_s, until_s), with rates per second and p95 from the windows' buckets."""
    since = until_s - window_s
    graph = Graph(window_seconds=window_s, until=until_s)
    nodes: dict[str, Node] = {}
    for name, window in agg.node_windows.items():
        row = window.totals(since, until_s)
        p95 = quantile(0.95, window.bounds, row[2:])
        nodes[name] = Node(name, requests=row[0], errors=row[1], rate=row[0] / window_s,
                           error_rate=row[1] / row[0] if row[0] else 0.0,
                           p95_ms=round(p95 * 1000, 1) if p95 is not None else None)
    for (client, server), window in sorted(agg.edge_windows.items()):
        row = window.totals(since, until_s)
        p95 = quantile(0.95, window.bounds, row[2:])
        edge = Edge(client, server, requests=row[0], errors=row[1], rate=row[0] / window_s,
                    error_rate=row[1] / row[0] if row[0] else 0.0,
                    p95_ms=round(p95 * 1000, 1) if p95 is not None else None)
        edge.search = _ui_link(jaeger_ui, "/search", {"service": server, "tags": '{"span.kind":"server"}',
                                                      "lookback": "1h", "limit": "20"})
        series = agg.edges.get((client, server, ""))
        if series is not None:
            slowest = next((x for x in reversed(series.client.exemplars) if x is not None), None)
            if slowest is not None:
                edge.trace = _ui_link(jaeger_ui, "/trace/" + quote(slowest[0], safe=""))
        edge.color = color(edge.error_rate, edge.requests)
        edge.width = round(1.0 + min(edge.rate, 100.0) ** 0.5 / 2, 2)
        graph.edges.append(edge)
        for name in (client, server):
            nodes.setdefault(name, Node(name))
    for node in nodes.values():
        node.search = _ui_link(jaeger_ui, "/search", {"service": node.name, "lookback": "1h", "limit": "20"})
        node.color = color(node.error_rate, node.requests)
    graph.nodes = sorted(nodes.values(), key=lambda n: n.name)
    _layout(graph)
    return graph


def _info(item: Node | Edge) -> dict[str, Any]:
    p95 = f"{item.p95_ms} ms" if item.p95_ms is not None else "n/a"
    title = item.name if isinstance(item, Node) else f"{item.client} \u2192 {item.server}"
    return {"title": title, "rate": f"{item.rate:.2f}/s", "error_rate": f"{item.error_rate * 100:.1f} %",
            "p95": p95, "requests": f"{item.requests:g}", "errors": f"{item.errors:g}", "search": item.search,
            "trace": getattr(item, "trace", "")}


def render_page(graph: Graph) -> str:
    """The HTML page (autoescaped; the click handler is inline, nothing comes from a CDN)."""
    return _TEMPLATE.render(
        graph=graph, info=_info, NODE_W=NODE_W, NODE_H=NODE_H,
        short=lambda s: s if len(s) <= 24 else s[:23] + "\u2026",
    )
