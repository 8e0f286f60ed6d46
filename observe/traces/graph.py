"""The /graph page: the current service graph as server-side SVG, laid out in columns by call depth."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import orjson

from observe.traces.aggregate import Exemplar, RedAggregates, Window

NODE_W, NODE_H, ROW_H, COL_W, MAX_ROWS, MARGIN = 190, 38, 58, 340, 14, 30
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
# Compiled at import, not on the first request inside the event loop.
_TEMPLATE = _env.get_template("graph.html.j2")


@dataclass
class Node:
    """One service on the graph: Istio's canonical service in its namespace when the spans say, else Jaeger's."""

    name: str
    namespace: str = ""
    key: str = ""
    service: str = ""  # a Jaeger service name behind it, for the search link
    requests: float = 0.0
    errors: float = 0.0
    rate: float = 0.0
    error_rate: float = 0.0
    p95_ms: float | None = None
    p95_text: str = "n/a"
    search: str = ""
    x: int = 0
    y: int = 0
    color: str = ""


@dataclass
class Edge:
    """Calls from one service to another."""

    client: str
    server: str
    client_key: str = ""
    server_key: str = ""
    requests: float = 0.0
    errors: float = 0.0
    rate: float = 0.0
    error_rate: float = 0.0
    p95_ms: float | None = None
    p95_text: str = "n/a"
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
    namespaces: list[str] = field(default_factory=list)
    requests: float = 0.0
    errors: float = 0.0
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
        if e.client_key != e.server_key:
            callees[e.client_key].append(e.server_key)
            called.add(e.server_key)
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
    names = [n.key for n in graph.nodes]
    depth = _depths(names, graph.edges)
    columns: dict[int, list[Node]] = {}
    # Within a column, services of one namespace stay together (Kiali groups by namespace).
    for node in sorted(graph.nodes, key=lambda n: (n.namespace, n.name)):
        columns.setdefault(depth[node.key], []).append(node)
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
    where = {n.key: n for n in graph.nodes}
    for e in graph.edges:
        a, b = where[e.client_key], where[e.server_key]
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


def _merged(windows: list[Window]) -> Window:
    """One window holding several (services that share a canonical name)."""
    if len(windows) == 1:
        return windows[0]
    out = Window(windows[0].bounds)
    for w in windows:
        for slot, row in w.slots.items():
            mine = out.slots.get(slot) or out.new_row(slot)
            for i, v in enumerate(row):
                mine[i] += v
        for slot, values in w.samples.items():
            out.samples.setdefault(slot, []).extend(values)
        out.full |= w.full
    return out


def p95_text(window: Window, since: float, until: float) -> tuple[float | None, str]:
    """The p95 in ms and how the page shows it: exact from the window's spans, or "≈" with its bucket bounds."""
    found = window.percentile(0.95, since, until)
    if found is None:
        return None, "n/a"
    value, low, high = found
    if low == high:
        return round(value * 1000, 1), f"{value * 1000:.1f} ms"
    upper = f"{high * 1000:g}" if high != float("inf") else "+Inf"
    return round(value * 1000, 1), f"\u2248 {value * 1000:.1f} ms (in {low * 1000:g}\u2013{upper} ms)"


def _key(agg: RedAggregates, service: str) -> tuple[str, str, str]:
    name, namespace = agg.node_names.get(service, (service, ""))
    return (f"{namespace}/{name}" if namespace else name), name, namespace


def build_graph(agg: RedAggregates, until_s: float, window_s: float, jaeger_ui: str) -> Graph:
    """The graph over [until_s - window_s, until_s): rates per second, and p95 from the spans of the window."""
    since = until_s - window_s
    graph = Graph(window_seconds=window_s, until=until_s)
    node_windows: dict[str, list[Window]] = {}
    nodes: dict[str, Node] = {}

    def node(service: str) -> Node:
        key, name, namespace = _key(agg, service)
        if key not in nodes:
            nodes[key] = Node(name, namespace=namespace, key=key, service=service)
        return nodes[key]

    for service, window in agg.node_windows.items():
        node_windows.setdefault(node(service).key, []).append(window)
    for key, windows in node_windows.items():
        window = _merged(windows)
        row = window.totals(since, until_s)
        n = nodes[key]
        n.requests, n.errors, n.rate = row[0], row[1], row[0] / window_s
        n.error_rate = row[1] / row[0] if row[0] else 0.0
        n.p95_ms, n.p95_text = p95_text(window, since, until_s)
    slowest_by_pair: dict[tuple[str, str], Exemplar] = {}  # over every connection_type and failed series
    for (c, sv, _, _), series in agg.edges.items():
        top = next((x for x in reversed(series.client.exemplars) if x is not None), None)
        pair = (node(c).key, node(sv).key)
        best = slowest_by_pair.get(pair)
        if top is not None and (best is None or top[1] > best[1]):
            slowest_by_pair[pair] = top
    edge_windows: dict[tuple[str, str], list[Window]] = {}
    for (client, server), window in agg.edge_windows.items():
        edge_windows.setdefault((node(client).key, node(server).key), []).append(window)
    for (ck, sk), windows in sorted(edge_windows.items()):
        window = _merged(windows)
        row = window.totals(since, until_s)
        a, b = nodes[ck], nodes[sk]
        edge = Edge(a.name, b.name, client_key=ck, server_key=sk, requests=row[0], errors=row[1],
                    rate=row[0] / window_s, error_rate=row[1] / row[0] if row[0] else 0.0)
        edge.p95_ms, edge.p95_text = p95_text(window, since, until_s)
        edge.search = _ui_link(jaeger_ui, "/search", {"service": b.service, "tags": '{"span.kind":"server"}',
                                                      "lookback": "1h", "limit": "20"})
        slowest = slowest_by_pair.get((ck, sk))
        if slowest is not None:
            edge.trace = _ui_link(jaeger_ui, "/trace/" + quote(slowest[0], safe=""))
        edge.color = color(edge.error_rate, edge.requests)
        edge.width = round(1.0 + min(edge.rate, 100.0) ** 0.5 / 2, 2)
        graph.edges.append(edge)
    for n in nodes.values():
        n.search = _ui_link(jaeger_ui, "/search", {"service": n.service, "lookback": "1h", "limit": "20"})
        n.color = color(n.error_rate, n.requests)
    graph.nodes = sorted(nodes.values(), key=lambda n: (n.namespace, n.name))
    graph.namespaces = sorted({n.namespace for n in graph.nodes if n.namespace})
    graph.requests = sum(n.requests for n in graph.nodes)
    graph.errors = sum(n.errors for n in graph.nodes)
    _layout(graph)
    return graph


def _info(item: Node | Edge) -> dict[str, Any]:
    if isinstance(item, Node):
        title = f"{item.name} ({item.namespace})" if item.namespace else item.name
    else:
        title = f"{item.client} \u2192 {item.server}"
    return {"title": title, "rate": f"{item.rate:.2f}/s", "error_rate": f"{item.error_rate * 100:.1f} %",
            "p95": item.p95_text, "requests": f"{item.requests:g}", "errors": f"{item.errors:g}",
            "search": item.search, "trace": getattr(item, "trace", "")}


def _summary(graph: Graph) -> dict[str, str]:
    """What the panel shows before a click: the whole graph's numbers."""
    window = graph.window_seconds or 1.0
    busiest = max(graph.edges, key=lambda e: e.rate, default=None)
    spaces = len(graph.namespaces)
    return {"services": f"{len(graph.nodes)}" + (f" in {spaces} namespace{'s' if spaces != 1 else ''}" if spaces else ""),
            "edges": f"{len(graph.edges)}", "requests": f"{graph.requests:g}",
            "rate": f"{graph.requests / window:.2f}/s",
            "error_rate": f"{graph.errors / graph.requests * 100:.1f} %" if graph.requests else "no requests",
            "busiest": f"{busiest.client} \u2192 {busiest.server} ({busiest.rate:.2f}/s)" if busiest else "none"}


def render_page(graph: Graph) -> str:
    """The HTML page (autoescaped; the click handler is inline, nothing comes from a CDN)."""
    return _TEMPLATE.render(
        graph=graph, info=_info, summary=_summary(graph), NODE_W=NODE_W, NODE_H=NODE_H,
        short=lambda s: s if len(s) <= 24 else s[:23] + "\u2026",
    )
