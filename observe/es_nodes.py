"""The nodes of one Elasticsearch/OpenSearch cluster: round robin over the live ones, rest and probe the dead ones.

Pure logic with an injectable clock; es_connection.Connection does the I/O. A node is marked dead on a
connection error or a timeout only: any HTTP answer, a 503 included, is the cluster talking, and the next node
would most likely say the same. A dead node rests `initial` seconds, doubled per consecutive failure up to
`maximum`; when its rest ends the next request to it is the probe: a success makes it live again with its
failure count reset, a failure makes it rest twice as long. With every node dead the pool still answers: the node
whose rest ends first, so a caller never stalls on an empty list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Clock = Callable[[], float]

# Roles of a node that holds no data and takes no ingest: not worth a bulk request (elastic-transport's default
# sniff filter leaves master-only nodes out too). "cluster_manager" is OpenSearch's name for master.
MASTER_ONLY = frozenset({"master", "cluster_manager", "voting_only"})


@dataclass(eq=False)
class Node:
    """One node's base URL and health: failures in a row, when its rest ends, what it has met (for metrics)."""

    url: str
    failures: int = 0
    dead_until: float | None = None  # None: live
    requests: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # reason -> count, for observe_*_es_node_failures_total

    @property
    def alive(self) -> bool:
        """Not marked dead (a dead node whose rest has ended is still dead until its probe succeeds)."""
        return self.dead_until is None


class NodePool:
    """Hands out the next node to send to, and hears back how it went (`mark_dead`, `mark_alive`)."""

    def __init__(self, urls: Iterable[str], *, initial: float = 1.0, maximum: float = 60.0,
                 clock: Clock = time.monotonic) -> None:
        self.nodes = [Node(u) for u in dict.fromkeys(u.rstrip("/") for u in urls)]
        if not self.nodes:
            raise ValueError("a node pool needs at least one URL")
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._next = 0

    def __len__(self) -> int:
        return len(self.nodes)

    def urls(self) -> list[str]:
        """The base URLs in the pool, in order."""
        return [n.url for n in self.nodes]

    def rest(self, failures: int) -> float:
        """Seconds a node rests after `failures` consecutive failures (at least one)."""
        return float(min(self.initial * 2.0 ** max(failures - 1, 0), self.maximum))

    def usable(self, node: Node) -> bool:
        """Live, or dead with its rest over (the next request to it is its probe)."""
        return node.dead_until is None or node.dead_until <= self.clock()

    def has_usable(self, exclude: Iterable[Node] = ()) -> bool:
        """Some node other than those in `exclude` can be tried now without waiting."""
        skip = set(map(id, exclude))
        return any(self.usable(n) for n in self.nodes if id(n) not in skip)

    def next(self, exclude: Iterable[Node] = ()) -> Node:
        """The next node, round robin over the usable ones not in `exclude`; with none, the one whose rest ends
        first (never nothing). Handing out a probe pushes that node's rest on, so one request probes it at a time."""
        skip = set(map(id, exclude))
        now = self.clock()
        count = len(self.nodes)
        chosen: Node | None = None
        for step in range(count):
            node = self.nodes[(self._next + step) % count]
            if id(node) not in skip and (node.dead_until is None or node.dead_until <= now):
                chosen = node
                self._next = (self._next + step + 1) % count
                break
        if chosen is None:
            candidates = [n for n in self.nodes if id(n) not in skip] or self.nodes
            chosen = min(candidates, key=lambda n: n.dead_until if n.dead_until is not None else now)
        if chosen.dead_until is not None:
            # The probe: others wait for its answer, or for another rest if it never comes (a cancelled request).
            chosen.dead_until = max(chosen.dead_until, now) + self.rest(chosen.failures)
        chosen.requests += 1
        return chosen

    def mark_dead(self, node: Node, reason: str) -> float:
        """A connection error or timeout on `node`: it rests, twice as long as last time; returns the rest."""
        node.failures += 1
        node.failed[reason] = node.failed.get(reason, 0) + 1
        rest = self.rest(node.failures)
        node.dead_until = self.clock() + rest
        return rest

    def mark_alive(self, node: Node) -> None:
        """`node` answered: live again, failure count reset."""
        node.failures = 0
        node.dead_until = None

    def replace(self, urls: Iterable[str]) -> bool:
        """Take `urls` as the nodes (a sniff's answer), keeping the state of those already known; an empty list
        changes nothing. True when the set of URLs changed."""
        wanted = list(dict.fromkeys(u.rstrip("/") for u in urls))
        if not wanted or wanted == self.urls():
            return False
        known = {n.url: n for n in self.nodes}
        changed = set(wanted) != set(known)
        self.nodes = [known.get(u) or Node(u) for u in wanted]
        self._next %= len(self.nodes)
        return changed


def publish_url(address: str, scheme: str) -> str | None:
    """The base URL of an HTTP publish address: `127.0.0.1:9201`, `host/127.0.0.1:9201` (a hostname first, for
    TLS), `[::1]:9200`; None when there is no port."""
    host, _, ip_port = address.rpartition("/")
    hostpart, sep, port = ip_port.rpartition(":")
    if not sep or not port.isdigit() or not hostpart:
        return None
    return f"{scheme}://{host or hostpart}:{port}"


def sniffed_urls(raw: bytes, scheme: str) -> list[str]:
    """The base URLs of the nodes in a `GET /_nodes/http` answer (Elasticsearch or OpenSearch), in node-id order,
    dedicated master nodes and nodes without HTTP left out. ValueError when the body is not such an answer."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the _nodes/http answer is not JSON: {exc}") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, dict):
        raise ValueError(f"the _nodes/http answer has no `nodes` object: {raw[:200]!r}")
    out: list[str] = []
    for _, info in sorted(nodes.items()):
        url = _node_url(info, scheme)
        if url is not None and url not in out:
            out.append(url)
    return out


def _node_url(info: Any, scheme: str) -> str | None:
    if not isinstance(info, Mapping):
        return None
    roles = info.get("roles")
    if isinstance(roles, list) and roles and set(roles) <= MASTER_ONLY:
        return None
    http = info.get("http")
    address = http.get("publish_address") if isinstance(http, Mapping) else None
    return publish_url(address, scheme) if isinstance(address, str) else None
