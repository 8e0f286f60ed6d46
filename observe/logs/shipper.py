"""The shipper: tailer -> segments -> batcher -> sink workers -> acks -> checkpoint, joined by bounded queues."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from observe.logs.backoff import Backoff
from observe.logs.batch import Batch, Batcher, Segment
from observe.logs.config import LogsConfig
from observe.logs.encode import action_id
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import MetadataProvider
from observe.logs.sinks.protocol import Outcome, Sink
from observe.logs.tailer import Tailer

log = logging.getLogger("observe.logs.shipper")


class Shipper:
    """Runs the pipeline's tasks; `stop` stops reading, drains what was read, and writes a last checkpoint."""

    def __init__(self, config: LogsConfig, sink: Sink, metrics: ShipperMetrics, *,
                 provider: MetadataProvider | None = None, host_name: str | None = None,
                 node_name: str | None = None) -> None:
        self.config = config
        self.sink = sink
        self.metrics = metrics
        self.segments: asyncio.Queue[Segment | None] = asyncio.Queue(config.queue_segments)
        # One ready batch besides those the workers hold: enough to keep them busy, little memory.
        self.batches: asyncio.Queue[Batch | None] = asyncio.Queue(1)
        self.tailer = Tailer(config, metrics, self.segments, provider=provider, host_name=host_name, node_name=node_name)
        self.batcher = Batcher(self.segments, self.batches, max_bytes=config.batch_max_bytes,
                               max_events=config.batch_max_events, linger=config.linger_ms / 1000)
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._shipped: dict[str, object] = {}
        self._failing: dict[int, tuple[float, str]] = {}  # batch -> (since, what the sink's error was)

    async def start(self) -> None:
        """Load checkpoints, start the sink and every stage."""
        await asyncio.to_thread(self.tailer.load)  # the checkpoint file: off the loop like every write of it
        await self.sink.start()
        await self.tailer.poll()
        self._tasks = [
            asyncio.create_task(self.tailer.discovery_loop(), name="logs-discovery"),
            asyncio.create_task(self.tailer.checkpoints.loop(), name="logs-checkpoint"),
        ]
        self._reader = asyncio.create_task(self.tailer.read_loop(), name="logs-reader")
        self._batcher = asyncio.create_task(self.batcher.run(), name="logs-batcher")
        self._workers = [asyncio.create_task(self._worker(), name=f"logs-sink-{i}") for i in range(self.config.max_in_flight)]

    async def _worker(self) -> None:
        while True:
            batch = await self.batches.get()
            if batch is None:
                await self.batches.put(None)  # let the other workers see the end too
                return
            self._count_shipped(batch)
            await self._deliver(batch)
            batch.complete()

    async def _deliver(self, batch: Batch) -> None:
        """Send until every event has a final outcome. The sink is supervised: an error of its own is logged with
        the batch's first file and offset, counted, and the batch sent again with backoff (never dropped)."""
        backoff = Backoff(self.config.retry_initial_seconds, self.config.retry_max_seconds)
        todo = batch
        try:
            while True:
                try:
                    outcomes = await self.sink.send(todo)
                    if len(outcomes) != todo.count:
                        raise ValueError(f"the sink returned {len(outcomes)} outcomes for {todo.count} events")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any fault of the sink: keep the worker and the batch
                    self._sink_failed(todo, exc)
                    await asyncio.sleep(backoff.next())
                    continue
                self._failing.pop(id(batch), None)
                if Outcome.RETRY not in outcomes:  # the common case, at C speed
                    return
                retry = [i for i, o in enumerate(outcomes) if o is Outcome.RETRY]
                self.metrics.events_retried.labels("sink").inc(len(retry))
                todo = todo.subset(retry)
                await asyncio.sleep(backoff.next())
        finally:
            self._failing.pop(id(batch), None)

    def _sink_failed(self, batch: Batch, exc: Exception) -> None:
        reason = str(getattr(exc, "reason", "unexpected"))
        self.metrics.sink_errors.labels(reason).inc()
        seg, i = next(batch.owners())
        path = str(getattr(seg.owner, "path", ""))
        try:
            offset = int(action_id(seg.items[i]).rsplit("-", 1)[1], 16)
        except (ValueError, IndexError):
            offset = -1
        what = f"{type(exc).__name__}: {exc}"[:300]
        since = self._failing.get(id(batch), (time.monotonic(), ""))[0]
        self._failing[id(batch)] = (since, f"{what} (batch of {batch.count} from {path} at offset {offset})")
        log.error("the sink failed on a batch; sending it again", extra={
            "event.reason": reason, "error.type": type(exc).__name__, "error.message": str(exc)[:500],
            "file.path": path, "log.offset": offset, "observe.items": batch.count})

    def ready(self) -> tuple[bool, str]:
        """Not ready while the sink fails on a batch (it is being retried)."""
        if not self._failing:
            return True, ""
        since, what = min(self._failing.values())
        return False, f"sink failing for {time.monotonic() - since:.0f}s on {len(self._failing)} batches (retrying): {what}"

    def _count_shipped(self, batch: Batch) -> None:
        counts: dict[str, int] = {}
        for seg, start, end in batch.slices:
            ns = seg.owner.namespace
            counts[ns] = counts.get(ns, 0) + end - start
        for ns, n in counts.items():
            self.metrics.events_shipped.labels(ns).inc(n)

    async def stop(self) -> None:
        """Stop reading, deliver what is in flight, write the checkpoint (also when the drain is cut short)."""
        try:
            self.tailer.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            await self.segments.put(None)
            await self._batcher
            await asyncio.gather(*self._workers)
        finally:
            for task in [*self._tasks, self._reader, self._batcher, *self._workers]:
                task.cancel()
            try:
                await self.tailer.checkpoints.save_final()
            finally:
                self.tailer.close_all()
                await self.sink.close()

    async def drained(self) -> None:
        """Wait until every segment read so far is acknowledged (tests and benchmarks)."""
        while True:
            busy = any(r.acks.segments for r in self.tailer.files.values()) or any(
                r.acks.segments for r in self.tailer.finishing.values())
            if not busy and self.segments.empty():
                return
            await asyncio.sleep(0.05)
