"""The Elasticsearch / OpenSearch sink: our own `_bulk` over aiohttp, one outcome per item.

- 2xx: delivered; 409 on `create`: already there (a retry or a replay), also success.
- 429, 5xx, timeouts, connection errors: retried (only the failed items), jittered exponential backoff, forever.
- a node that does not answer (connection error, timeout) rests (observe/es_nodes.py); its pending items go to
  the next live node at once, with no backoff, and wait only when no node is left to try.
- mapping errors and other 4xx: written to the dead-letter stream with the original document and the error.
- a whole request refused with a 4xx (malformed or too large): split in halves until the culprit is alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from observe.es_connection import TRANSPORT_ERRORS, Connection, HttpError, PoolCollector, explain, name_node, node_of
from observe.logs.batch import Batch
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.elasticsearch import request
from observe.logs.sinks.elasticsearch.config import SinkConfig
from observe.logs.sinks.elasticsearch.deadletter import deadletter_item, reason_of
from observe.logs.sinks.elasticsearch.existing import ExistingIds, targets
from observe.logs.sinks.elasticsearch.provision import Provisioner
from observe.logs.sinks.elasticsearch.request import Item
from observe.logs.sinks.elasticsearch.retry import Backoff, item_retry_reason, item_verdict, request_retry_reason
from observe.logs.sinks.elasticsearch.span import annotate
from observe.logs.sinks.protocol import Outcome
from observe.tracing import tracer

log = logging.getLogger("observe.logs.bulk")

SETUP_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, HttpError)


@dataclass
class Attempt:
    """What one bulk request did: items still pending, the retry reason (None: no backoff), what each item met,
    and whether another node can take the retry at once (`elsewhere`: no backoff either)."""

    left: Sequence[Item]
    reason: str | None = None
    status: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    elsewhere: bool = False


class ElasticsearchSink:
    """Delivers batches to Elasticsearch or OpenSearch exactly once (deterministic ids, op_type=create)."""

    name = "elasticsearch"

    def __init__(self, config: SinkConfig, metrics: ShipperMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.conn = Connection(config.es, connections=config.connections)
        metrics.registry.register(PoolCollector(self.conn, "observe_shipper_es"))
        self.provisioner = Provisioner(self.conn, config.logs, config.es.engine)
        self._setup_done = asyncio.Event()
        self._setup_task: asyncio.Task[None] | None = None
        self._state = "not started"
        self._failing_since: float | None = None
        self._last_failure = ""  # what the latest failed bulk request met, for /readyz
        self._last_node = ""  # where the latest bulk request went
        self._acked = {o: metrics.events_acked.labels(o) for o in ("delivered", "duplicate", "deadlettered")}
        self._streams: set[str] = set()  # more data streams that files' plans name
        self.existing = ExistingIds(self.conn, config.logs.deadletter_data_stream)
        self._tracer = tracer("observe.logs")

    @property
    def engine(self) -> str:
        """The engine found (or configured)."""
        return self.provisioner.engine

    @property
    def lifecycle(self) -> str | None:
        """The lifecycle policy installed: ilm, ism or None."""
        return self.provisioner.lifecycle

    # ---- setup -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._setup_task = asyncio.create_task(self._setup_forever(), name="logs-sink-setup")

    async def _setup_forever(self) -> None:
        backoff = Backoff(self.config.logs.retry_initial_seconds, self.config.logs.retry_max_seconds)
        while True:
            try:
                await self.provisioner.setup(self._streams)
                self._state = f"{self.engine} ready"
                self._setup_done.set()
                return
            except SETUP_ERRORS as exc:
                kind, why = explain(exc, self.config.es)
                self._state = f"setup failed: {why}"
                # TLS and credentials do not heal by waiting: an error, though retried in case a Secret is rotated.
                log.log(logging.ERROR if kind in ("tls", "auth") else logging.WARNING,
                        "cannot set up the log data streams yet; retrying",
                        extra={"url.full": node_of(exc) or self.conn.describe(), "error.type": kind, "error.message": why,
                               "event.retry_in_s": round(backoff.delay, 2)})
            await asyncio.sleep(backoff.next())

    async def setup(self) -> None:
        """Provision now, raising what stops it (`observe ship --replay`; the service retries in `start`)."""
        await self.provisioner.setup(self._streams)
        self._setup_done.set()

    async def prepare(self, data_stream: str) -> None:
        """Install the index template of a data stream a file's plan names, once, before its first write."""
        logs = self.config.logs
        if data_stream in self._streams or data_stream == logs.data_stream or not logs.install_templates:
            return
        self._streams.add(data_stream)
        if not self._setup_done.is_set():
            return  # setup installs it with the others
        try:
            await self.provisioner.install_stream(data_stream)
        except SETUP_ERRORS as exc:
            self._streams.discard(data_stream)  # try again when the next file names it
            log.warning("cannot install the template of an annotated data stream", extra={
                "observe.data_stream": data_stream, "error.message": str(exc)})

    def ready(self) -> tuple[bool, str]:
        if not self._setup_done.is_set():
            return False, self._state
        if self._failing_since is not None:
            return True, (f"bulk requests failing for {time.monotonic() - self._failing_since:.0f}s (retrying): "
                          f"{self._last_failure}")
        return True, self._state

    async def close(self) -> None:
        if self._setup_task is not None:
            self._setup_task.cancel()
        await self.conn.close()

    # ---- delivery ----------------------------------------------------------------------------
    async def send(self, batch: Batch) -> list[Outcome]:
        await self._setup_done.wait()
        outcomes = [Outcome.DELIVERED] * batch.count
        pending: Sequence[Item] = request.Fresh(list(batch.items()))
        if any(seg.verify for seg, _, _ in batch.slices):
            check = {i for i, (seg, _) in enumerate(batch.owners()) if seg.verify}
            pending = await self.skip_existing(pending, check, outcomes, "restart")
        await self.deliver(pending, outcomes)
        return outcomes

    async def deliver_items(self, items: list[bytes]) -> list[Outcome]:
        """Deliver bulk items (a replayed spool file, each looked up first); each one's final outcome, in order."""
        outcomes = [Outcome.DELIVERED] * len(items)
        pending = await self.skip_existing(request.pending_of(items), set(range(len(items))), outcomes, "replay")
        await self.deliver(pending, outcomes)
        return outcomes

    async def skip_existing(self, pending: Sequence[Item], check: set[int], outcomes: list[Outcome],
                            reason: str) -> Sequence[Item]:
        """Drop from `pending` the items in `check` whose `_id` a backing index already holds (outcome: duplicate).

        A lookup that fails is retried with backoff like a bulk request: sending without knowing could duplicate.
        """
        backoff = Backoff(self.config.logs.retry_initial_seconds, self.config.logs.retry_max_seconds)
        by_stream = targets((i, item) for i, item, _ in pending if i in check)
        found: set[int] = set()
        for stream, ids in by_stream.items():
            while True:
                try:
                    have = await self.existing.find(stream, [doc_id for _, doc_id in ids])
                    break
                except (*SETUP_ERRORS, ValueError) as exc:
                    why = explain(exc, self.config.es)[1]
                    self._last_failure = f"looking up ids already written: {why}"
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    log.warning("cannot look up which events are already stored; retrying", extra={
                        "url.full": node_of(exc) or self.conn.describe(), "observe.data_stream": stream,
                        "error.message": why})
                    self.metrics.events_retried.labels("lookup").inc(len(ids))
                    await asyncio.sleep(backoff.next())
            found.update(pos for pos, doc_id in ids if doc_id in have)
        if not found:
            return pending
        for pos in found:
            outcomes[pos] = Outcome.DUPLICATE
        self._acked["duplicate"].inc(len(found))
        self.metrics.duplicates_avoided.labels(reason).inc(len(found))
        return [p for p in pending if p[0] not in found]

    async def deliver(self, pending: Sequence[Item], outcomes: list[Outcome]) -> None:
        """Send until every item has a final outcome (written into `outcomes` at the item's index)."""
        backoff = Backoff(self.config.logs.retry_initial_seconds, self.config.logs.retry_max_seconds)
        attempt = 0
        while pending:
            attempt += 1
            result = await self._attempt(pending, attempt, outcomes)
            pending = result.left
            if result.reason is None:
                backoff.reset()
                continue
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("bulk items failing; retrying them (never given up)",
                            extra={"url.full": self._last_node, "event.reason": result.reason,
                                   "observe.items": len(pending)})
            if result.elsewhere:
                continue  # the node did not answer and another one may: no reason to wait
            await asyncio.sleep(backoff.next())
        if self._failing_since is not None:
            log.info("bulk requests succeed again", extra={"event.duration_s": round(time.monotonic() - self._failing_since, 1)})
            self._failing_since = None

    async def _attempt(self, pending: Sequence[Item], attempt: int, outcomes: list[Outcome]) -> Attempt:
        """One bulk request in its own span."""
        with self._tracer.start_as_current_span("logs.bulk", kind=SpanKind.CLIENT) as span:
            result = await self._send(pending, outcomes)
            if span.is_recording():
                annotate(span, base=self._last_node, items=len(pending), nbytes=sum(len(item) for _, item, _ in pending),
                         attempt=attempt, status=result.status, counts=result.counts, reason=result.reason)
            return result

    async def _send(self, pending: Sequence[Item], outcomes: list[Outcome]) -> Attempt:
        """The request itself, and what its answer means for each item."""
        node = self.conn.pool.next()
        self._last_node = node.url
        t0 = time.monotonic()
        try:
            async with self.conn.session().post(node.url + request.BULK_PATH, data=request.body(pending),
                                                headers=request.NDJSON) as resp:
                status = resp.status
                raw = await resp.read()
        except (*TRANSPORT_ERRORS, aiohttp.ClientError) as exc:
            trace.get_current_span().record_exception(exc)
            dead = isinstance(exc, TRANSPORT_ERRORS)  # not an answer we could not read: that node did answer
            if dead:
                self.conn.node_failed(node, exc)
            name_node(exc, node.url)
            if isinstance(exc, TimeoutError):
                self._last_failure = f"{node.url}: timeout after {self.config.es.request_timeout_seconds:g}s"
            else:
                self._last_failure = explain(exc, self.config.es)[1]
            result = self._retry_all(pending, "timeout" if isinstance(exc, TimeoutError) else "connection", None)
            result.elsewhere = dead and self.conn.pool.has_usable()
            return result
        finally:
            self.metrics.bulk_duration.observe(time.monotonic() - t0)
        self.conn.pool.mark_alive(node)
        why = request_retry_reason(status)
        if why is not None:
            self._last_failure = (f"HTTP 429: the server ({node.url}) is overloaded" if status == 429
                                  else explain(HttpError(status, raw, node.url), self.config.es)[1])
            if why == "auth":
                log.error("the server refuses our credentials; retrying", extra={
                    "url.full": node.url, "http.response.status_code": status, "error.type": "auth",
                    "error.message": self._last_failure})
            return self._retry_all(pending, why, status)
        if status >= 400:
            left = await self._request_refused(pending, status, raw, outcomes)
            return Attempt(left, None, status, {"rejected": len(pending)})
        if request.all_created(raw):
            return Attempt([], None, status, self._all_ok(pending, outcomes))
        # An answer we cannot pair with the items raises BulkResponseError: the shipper sends the batch again.
        answers = request.answers(raw, len(pending))
        result = self._per_item(pending, answers, outcomes)
        result.status = status
        if result.reason is not None:
            self._last_failure = f"items answered {result.reason} by {node.url}"
        return result

    def _retry_all(self, pending: Sequence[Item], reason: str, status: int | None) -> Attempt:
        self.metrics.events_retried.labels(reason).inc(len(pending))
        return Attempt(pending, reason, status, {"retried": len(pending)})

    def _all_ok(self, pending: Sequence[Item], outcomes: list[Outcome]) -> dict[str, int]:
        self.metrics.bulk_items.labels("201").inc(len(pending))
        dl = 0
        if request.has_dead_letters(pending):
            for index, _, dl_reason in pending:
                if dl_reason is not None:
                    dl += 1
                    self._deadlettered(index, dl_reason, outcomes)
        self._acked["delivered"].inc(len(pending) - dl)
        return {"delivered": len(pending) - dl, "deadlettered": dl}

    def _deadlettered(self, index: int, reason: str, outcomes: list[Outcome]) -> None:
        outcomes[index] = Outcome.DEADLETTERED
        self._acked["deadlettered"].inc()
        self.metrics.events_deadlettered.labels(reason).inc()

    def _per_item(self, pending: Sequence[Item], answers: list[dict[str, Any]], outcomes: list[Outcome]) -> Attempt:
        """Each item's answer applied: stored, retried, or rejected (to the dead-letter stream)."""
        left: list[Item] = []
        out = Attempt(left)
        counts = dict.fromkeys(("delivered", "duplicate", "deadlettered", "retried", "rejected"), 0)
        for (index, item, dl_reason), answer in zip(pending, answers, strict=True):
            status, etype, ereason = request.item_result(answer)
            self.metrics.bulk_items.labels(str(status)).inc()
            verdict = item_verdict(status)
            if verdict in ("ok", "duplicate"):
                if dl_reason is not None:
                    self._deadlettered(index, dl_reason, outcomes)
                    counts["deadlettered"] += 1
                else:
                    key = "duplicate" if verdict == "duplicate" else "delivered"
                    outcomes[index] = Outcome.DUPLICATE if verdict == "duplicate" else Outcome.DELIVERED
                    self._acked[key].inc()
                    counts[key] += 1
            elif verdict == "retry":
                out.reason = item_retry_reason(status)
                self.metrics.events_retried.labels(out.reason).inc()
                left.append((index, item, dl_reason))
                counts["retried"] += 1
            else:
                counts["rejected"] += 1
                self._reject(index, item, dl_reason, status, etype, ereason, left, outcomes)
        out.counts = counts
        return out

    async def _request_refused(self, pending: Sequence[Item], status: int, raw: bytes,
                               outcomes: list[Outcome]) -> list[Item]:
        """A whole request refused with a 4xx: bisect until the culprit is alone, then dead-letter it."""
        if len(pending) > 1:
            half = len(pending) // 2
            await self.deliver(pending[:half], outcomes)
            await self.deliver(pending[half:], outcomes)
            return []
        index, item, dl_reason = pending[0]
        self.metrics.bulk_items.labels(str(status)).inc()
        etype, ereason = request.error_of(status, raw)
        left: list[Item] = []
        self._reject(index, item, dl_reason, status, etype, ereason, left, outcomes)
        return left

    def _reject(self, index: int, item: bytes, dl_reason: str | None, status: int, etype: str, ereason: str,
                left: list[Item], outcomes: list[Outcome]) -> None:
        """A rejected item goes to the dead-letter stream; a rejected dead-letter write is dropped and counted."""
        if dl_reason is not None:
            outcomes[index] = Outcome.DROPPED
            self.metrics.events_dropped.labels("deadletter_rejected", "false").inc()
            log.error("the dead-letter stream rejected an event; it is dropped",
                      extra={"http.response.status_code": status, "error.type": etype, "error.message": ereason})
            return
        stream = self.config.logs.deadletter_data_stream
        left.append((index, deadletter_item(item, stream, status, etype, ereason), reason_of(etype)))
