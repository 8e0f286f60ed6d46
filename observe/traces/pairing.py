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

from typing import Protocol

from observe.traces.model import KIND_CLIENT, KIND_SERVER, Span

BUCKET_US = 10_000_000  # eviction granularity: 10 s of span start time


class Sink(Protocol):
    """Receives what pairing finds."""

    def span(self, span: Span) -> None:
        """A new (deduplicated) span."""

    def pair(self, client: Span, server: Span) -> None:
        """A client span and the span its callee wrote for the same request."""

    def unpaired(self, span: Span) -> None:
        """A client or server span whose partner never came."""


class Pairer:
    """Dedupes spans by id within the window and pairs client and server spans."""

    def __init__(self, sink: Sink, horizon_us: int = 0) -> None:
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
        if span.start_us < self.horizon_us:
            self.before_horizon += 1
            return False
        sid = span.span_id
        if sid in self.seen:
            self.duplicates += 1
            return False
        bucket = span.start_us // BUCKET_US
        self.seen[sid] = bucket
        ids = self.buckets.get(bucket)
        if ids is None:
            self.buckets[bucket] = [sid]
        else:
            ids.append(sid)
        self.accepted += 1
        sink = self.sink
        sink.span(span)
        kind = span.kind
        # As a child: is the parent an unpaired client span of another service?
        parent = span.parent_id
        if parent and (kind == KIND_SERVER or kind == KIND_CLIENT):
            caller = self.clients.get(parent)
            if caller is not None and caller.service != span.service:
                del self.clients[parent]
                sink.pair(caller, span)
            elif parent not in self.seen:
                waiting = self.orphans.get(parent)
                if waiting is None:
                    self.orphans[parent] = [span]
                else:
                    waiting.append(span)
            elif kind == KIND_SERVER:
                sink.unpaired(span)  # its parent is here and is no client waiting for it
        # As a parent: children that came first.
        children = self.orphans.pop(sid, None)
        if kind == KIND_CLIENT:
            if children:
                for child in children:
                    if child.service != span.service:
                        sink.pair(span, child)
                        children.remove(child)
                        break
                else:
                    self.clients[sid] = span
            else:
                self.clients[sid] = span
        if children:
            for child in children:
                if child.kind == KIND_SERVER:
                    sink.unpaired(child)
        return True

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
                    self.sink.unpaired(client)
        stale = [p for p, kids in self.orphans.items() if any(k.start_us // BUCKET_US < limit for k in kids)]
        for parent in stale:
            keep: list[Span] = []
            for child in self.orphans[parent]:
                if child.start_us // BUCKET_US < limit:
                    if child.kind == KIND_SERVER:
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
            self.sink.unpaired(client)
        self.clients.clear()
        for kids in self.orphans.values():
            for child in kids:
                if child.kind == KIND_SERVER:
                    self.sink.unpaired(child)
        self.orphans.clear()
