"""Istio span pairing: each client span meets the span its callee's proxy wrote, across sidecars.

Envoy writes one client span in the caller's sidecar and one server span, its child, in the callee's.
An ingress gateway writes only client spans, so a request that reaches it from a traced caller
arrives as client -> client: a cross-service child of a client span is its partner whatever its kind.

Spans arrive in any order and across pulls, so both sides wait: unpaired client spans by their id,
children whose parent is not here yet by their parent's id. Every span id seen in the window is
remembered, which is also the dedupe set for the overlap window. Spans older than the horizon are
evicted, and whatever is still unpaired then is reported as unpaired.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from observe.traces.model import (
    CONN_DATABASE,
    CONN_MESSAGING,
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_PRODUCER,
    KIND_SERVER,
    Span,
)

BUCKET_US = 10_000_000  # eviction granularity: 10 s of span start time
# The servicegraph connector's connection_type values, and the name of a caller nobody traced.
DATABASE, MESSAGING, VIRTUAL = "database", "messaging_system", "virtual_node"
VIRTUAL_CLIENT = "user"
_CALLERS = (KIND_CLIENT, KIND_PRODUCER)
_CALLEES = (KIND_SERVER, KIND_CONSUMER)
_PAIRABLE = (*_CALLERS, *_CALLEES)


def connection_type(client: Span, server: Span) -> str:
    """The connection_type of a request between two traced spans."""
    if client.kind == KIND_PRODUCER or server.kind == KIND_CONSUMER or client.conn == CONN_MESSAGING:
        return MESSAGING
    return DATABASE if client.conn == CONN_DATABASE else ""


def virtual_partner(span: Span) -> Span:
    """The side nobody traced, named as the connector names virtual nodes: the peer's name for a callee, `user`
    for a caller; it reports the traced side's duration."""
    callee = span.kind in _CALLERS
    return Span(span.span_id, span.parent_id, span.trace_id, span.peer if callee else VIRTUAL_CLIENT, span.name,
                KIND_SERVER if callee else KIND_CLIENT, span.start_us, span.duration_us, span.status, span.weight)


class PairingListener(Protocol):
    """Receives what pairing finds."""

    def span(self, span: Span) -> None:
        """A new (deduplicated) span."""

    def pair(self, client: Span, server: Span, connection: str = "") -> None:
        """A client span and the span its callee wrote for the same request (connection: its connection_type)."""

    def unpaired(self, span: Span) -> None:
        """A client or server span whose partner never came (and that names no peer to stand in for it)."""


class Pairer:
    """Dedupes spans by id within the window and pairs client and server spans."""

    def __init__(self, sink: PairingListener, horizon_us: int = 0) -> None:
        self.sink = sink
        self.horizon_us = horizon_us  # spans starting before this are not accepted any more
        self.seen: dict[str, int] = {}  # span id -> start-time bucket
        self.buckets: dict[int, list[str]] = {}
        self.clients: dict[str, Span] = {}  # client spans still waiting for their callee's span
        self.orphans: dict[str, list[Span]] = {}  # parent id -> children that came before it
        self.accepted = 0
        self.duplicates = 0
        self.before_horizon = 0

    def add(self, span: Span) -> bool:
        """Take one span; False when it was a duplicate or older than the horizon."""
        return self.add_all((span,)) == 1

    def add_all(self, spans: Iterable[Span]) -> int:
        """Take spans in order; returns how many were accepted (not duplicates, not behind the horizon).

        One loop over a trace's spans with the window's dicts and the sink's methods in locals: this
        runs once per span, and attribute lookups were a fifth of its cost.
        """
        horizon = self.horizon_us
        seen, buckets, clients, orphans = self.seen, self.buckets, self.clients, self.orphans
        sink = self.sink
        on_span, on_pair, on_unpaired = sink.span, sink.pair, sink.unpaired
        accepted = duplicates = before_horizon = 0
        try:
            for span in spans:
                start = span.start_us
                if start < horizon:
                    before_horizon += 1
                    continue
                sid = span.span_id
                if sid in seen:
                    duplicates += 1
                    continue
                bucket = start // BUCKET_US
                seen[sid] = bucket
                ids = buckets.get(bucket)
                if ids is None:
                    buckets[bucket] = [sid]
                else:
                    ids.append(sid)
                accepted += 1
                on_span(span)
                kind = span.kind
                # As a child: is the parent an unpaired client span of another service?
                parent = span.parent_id
                if parent and kind in _PAIRABLE:
                    caller = clients.get(parent)
                    if caller is not None and caller.service != span.service:
                        del clients[parent]
                        # The common case (client -> server, no messaging attributes) without a call.
                        plain = caller.kind == KIND_CLIENT and kind != KIND_CONSUMER and not caller.naming[3]
                        on_pair(caller, span, "" if plain else connection_type(caller, span))
                    elif parent not in seen:
                        waiting = orphans.get(parent)
                        if waiting is None:
                            orphans[parent] = [span]
                        else:
                            waiting.append(span)
                    elif kind in _CALLEES:
                        on_unpaired(span)  # its parent is here and is no client waiting for it
                elif not parent and kind in _CALLEES:
                    on_pair(virtual_partner(span), span, VIRTUAL)  # called from outside the traced mesh
                # As a parent: children that came first.
                children = orphans.pop(sid, None)
                if kind in _CALLERS:
                    if span.conn == CONN_DATABASE and span.peer and not children:
                        on_pair(span, virtual_partner(span), DATABASE)  # databases write no span of their own
                    elif children:
                        for child in children:
                            if child.service != span.service:
                                on_pair(span, child, connection_type(span, child))
                                children.remove(child)
                                break
                        else:
                            clients[sid] = span
                    else:
                        clients[sid] = span
                if children:
                    for child in children:
                        if child.kind in _CALLEES:
                            on_unpaired(child)
        finally:
            self.accepted += accepted
            self.duplicates += duplicates
            self.before_horizon += before_horizon
        return accepted

    def evict(self, horizon_us: int) -> None:
        """Forget spans that started before horizon_us; report what is still unpaired."""
        self.horizon_us = max(self.horizon_us, horizon_us)
        limit = self.horizon_us // BUCKET_US
        old = [b for b in self.buckets if b < limit]
        for bucket in sorted(old):
            for sid in self.buckets.pop(bucket):
                self.seen.pop(sid, None)
                client = self.clients.pop(sid, None)
                if client is not None:
                    self._gave_up(client)
        stale = [p for p, kids in self.orphans.items() if any(k.start_us // BUCKET_US < limit for k in kids)]
        for parent in stale:
            keep: list[Span] = []
            for child in self.orphans[parent]:
                if child.start_us // BUCKET_US < limit:
                    if child.kind in _CALLEES:
                        self.sink.unpaired(child)
                else:
                    keep.append(child)
            if keep:
                self.orphans[parent] = keep
            else:
                del self.orphans[parent]

    def flush(self) -> None:
        """Report everything still waiting as unpaired (end of an offline analysis)."""
        for client in self.clients.values():
            self._gave_up(client)
        self.clients.clear()
        for kids in self.orphans.values():
            for child in kids:
                if child.kind in _CALLEES:
                    self.sink.unpaired(child)
        self.orphans.clear()

    def _gave_up(self, client: Span) -> None:
        """A caller whose callee never wrote a span: a virtual node when it names its peer, else unpaired."""
        if client.peer:
            self.sink.pair(client, virtual_partner(client), VIRTUAL)
        else:
            self.sink.unpaired(client)
