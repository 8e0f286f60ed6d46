"""The pull loop: per service, traces since the watermark (minus the overlap), then pairing and aggregation.

One watermark covers every service and moves only when a whole window was fetched, so a failed
request is simply asked again next time; the span-id dedupe makes re-reading harmless. Decoding and
aggregation run in a worker thread, one answer at a time, and publish finished text for /metrics and
a graph snapshot for /graph, so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from observe.traces import state as state_file
from observe.traces.aggregate import RedAggregates
from observe.traces.config import TracesConfig
from observe.traces.exposition import render
from observe.traces.graph import Graph, build_graph
from observe.traces.ingest import Ingest
from observe.traces.jaeger import V1, V3, JaegerClient, JaegerError
from observe.tracing import tracer

log = logging.getLogger("observe.traces")
MIN_SPLIT_US = 1_000_000  # a full answer for a range shorter than this is counted as truncated
MAX_PIECES = 16  # a full answer's range is asked again in at most this many pieces


class Puller:
    """Pulls traces from Jaeger into the RED aggregates, keeping the watermark and the window on disk."""

    def __init__(self, config: TracesConfig, registry: CollectorRegistry, now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.now = now
        self.aggregates = RedAggregates(config.max_series, config.service_graph_buckets_seconds,
                                        config.span_metrics_buckets_seconds)
        self.ingest = Ingest(self.aggregates, config.sampling_rate, shard=config.shard, total_shards=config.total_shards)
        self.client = JaegerClient(config.jaeger_url, config.request_timeout_seconds, config.jaeger_api)
        self.watermark_us: int | None = None
        self.failures = 0
        self.backoff_until = 0.0
        self.last_error = ""
        self.pulled_once = False
        self.stopping = False  # set on shutdown: finish the window in flight, start no other
        self.text = b""
        self.openmetrics = b""
        self.graph = Graph()
        self._feed_lock = asyncio.Lock()
        self._requests = asyncio.Semaphore(config.concurrency)
        self._counted = {"accepted": 0, "duplicate": 0, "before_horizon": 0, "other_shard": 0}
        self._tracer = tracer("observe.traces")
        self.spans_total = Counter("observe_traces_spans", "Spans read from Jaeger, by what became of them (accepted, "
                                   "duplicate, before_horizon, other_shard: a trace another puller owns).",
                                   ["outcome"], registry=registry)
        self.rejected = Counter("observe_traces_input_rejected", "Jaeger input not used as sent, by reason: traces "
                                "skipped (trace_too_deep, trace_malformed), api/v3 spans skipped (span_malformed) "
                                "and resource batches skipped (spans_malformed), span sampler rates ignored "
                                "(sampler_param_out_of_range).", ["reason"], registry=registry)
        self._rejected: dict[str, int] = {}
        self.pull_errors = Counter("observe_traces_pull_errors", "Failed or truncated pulls from Jaeger, by reason.",
                                   ["reason"], registry=registry)
        lag = Gauge("observe_traces_watermark_lag_seconds", "How far the watermark is behind now.", registry=registry)
        lag.set_function(lambda: self.now() - self.watermark_us / 1e6 if self.watermark_us is not None else 0.0)
        for outcome in self._counted:
            self.spans_total.labels(outcome)

    def load_state(self) -> None:
        """Resume from the state file when there is one (ValueError when it is unreadable)."""
        saved = state_file.load(self.config.state_file)
        if saved is None:
            return
        self.watermark_us = saved.watermark_us
        self.ingest.pairer.horizon_us = saved.watermark_us - int(self.config.overlap_seconds * 1e6)
        self.ingest.restore(saved.window)
        log.info("resumed from the state file", extra={"file.path": str(self.config.state_file),
                                                       "observe.watermark_us": saved.watermark_us})

    def _mine(self, service: str) -> bool:
        return service not in self.config.exclude_services

    async def tick(self) -> bool:
        """One scheduled run: catch up to now - settle in windows; False when Jaeger failed (then back off)."""
        if self.now() < self.backoff_until:
            return False
        cfg = self.config
        try:
            services = [s for s in (cfg.services or await self.client.services()) if self._mine(s)]
            end_target = int((self.now() - cfg.settle_seconds) * 1e6)
            if self.watermark_us is None:
                self.watermark_us = end_target - int(cfg.initial_lookback_seconds * 1e6)
            while self.watermark_us < end_target and not self.stopping:
                end = min(end_target, self.watermark_us + int(cfg.max_window_seconds * 1e6))
                start = self.watermark_us - int(cfg.overlap_seconds * 1e6)
                await self._pull_window(services, start, end)
                self.watermark_us = end
                await asyncio.to_thread(self._advance, end)
        except JaegerError as exc:
            self._failed(exc)
            return False
        self.failures = 0
        self.last_error = ""
        self.pulled_once = True
        return True

    def _failed(self, exc: JaegerError) -> None:
        self.pull_errors.labels(exc.reason).inc()
        self.failures += 1
        base = min(self.config.backoff_max_seconds, self.config.interval_seconds * 2 ** (self.failures - 1))
        delay = base * random.uniform(0.5, 1.0)
        self.backoff_until = self.now() + delay
        self.last_error = str(exc)
        log.warning("pull from Jaeger failed; backing off",
                    extra={"error.message": str(exc), "event.reason": exc.reason, "observe.backoff_s": round(delay, 2)})

    async def _pull_window(self, services: list[str], start_us: int, end_us: int) -> None:
        with self._tracer.start_as_current_span("traces.pull", attributes={
                "observe.services": len(services), "observe.window_start_us": start_us, "observe.window_end_us": end_us}):
            results = await asyncio.gather(*(self._pull_range(s, start_us, end_us) for s in services),
                                           return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the window is asked again whole; what was fed already dedupes

    async def _pull_range(self, service: str, start_us: int, end_us: int) -> None:
        cfg = self.config
        async with self._requests:
            api, body = await self.client.traces(service, start_us, end_us, cfg.limit)
        async with self._feed_lock:
            try:
                count = await asyncio.to_thread(self._feed, body, api)
            except ValueError as exc:  # msgspec.DecodeError is a ValueError
                raise JaegerError("decode", f"{api} traces for {service}: {exc}") from None
            except RecursionError:  # decoding counts and skips deep traces; this is the last line of defence
                raise JaegerError("decode", f"{api} traces for {service}: JSON nested too deeply") from None
            extent = self.ingest.extent
        if count >= cfg.limit:
            if end_us - start_us < MIN_SPLIT_US:
                self.pull_errors.labels("truncated").inc()
                return
            for piece_start, piece_end in split_range(start_us, end_us, count, extent, cfg.limit):
                await self._pull_range(service, piece_start, piece_end)

    def _feed(self, body: bytes, api: str = V1) -> int:
        count = self.ingest.feed_otlp(body) if api == V3 else self.ingest.feed(body)
        self._count_outcomes()
        return count

    def _count_outcomes(self) -> None:
        p = self.ingest.pairer
        for outcome, value in (("accepted", p.accepted), ("duplicate", p.duplicates),
                               ("before_horizon", p.before_horizon), ("other_shard", self.ingest.other_shard)):
            delta = value - self._counted[outcome]
            if delta:
                self.spans_total.labels(outcome).inc(delta)
                self._counted[outcome] = value
        for reason, value in list(self.ingest.rejected.items()):
            delta = value - self._rejected.get(reason, 0)
            if delta:
                self.rejected.labels(reason).inc(delta)
                self._rejected[reason] = value

    def _advance(self, watermark_us: int) -> None:
        """Evict behind the horizon, publish metrics text and the graph, save the state (worker thread)."""
        cfg = self.config
        self.ingest.evict(watermark_us - int(cfg.overlap_seconds * 1e6))
        self._count_outcomes()
        until = watermark_us / 1e6
        self.aggregates.prune(until - cfg.graph_window_seconds - 60)
        self.text = render(self.aggregates, openmetrics=False, span_unit=cfg.span_metrics_unit)
        self.openmetrics = render(self.aggregates, openmetrics=True, span_unit=cfg.span_metrics_unit)
        self.graph = build_graph(self.aggregates, until, cfg.graph_window_seconds,
                                 cfg.jaeger_ui_url or cfg.jaeger_url)
        state_file.save(cfg.state_file, state_file.State(state_file.VERSION, watermark_us, self.ingest.snapshot()))

    def status(self) -> dict[str, Any]:
        """A summary for logs and tests."""
        return {"watermark_us": self.watermark_us, "failures": self.failures, "last_error": self.last_error}

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()


def split_range(start_us: int, end_us: int, count: int, extent: tuple[int, int] | None,
                limit: int) -> list[tuple[int, int]]:
    """The pieces a full answer's range is asked again in. They cover the range end to end whatever the estimate,
    so a wrong one costs requests, never traces; a piece that comes back full is split again.

    The answer held `count` traces (at least `limit`) starting within `extent`. At that density a piece of
    `extent width * limit / (2 * count)` holds about half a limit, so one more answer of each piece should do.
    Halving instead (the fallback, when fewer than two traces had a start) asks again for the part of the range
    where the traces are at every level: in tests/unit/traces/test_split.py a burst of 2,000 traces in a 360 s
    window was fetched four times over by halving and twice by these pieces. Pieces are at most MAX_PIECES and at
    least half MIN_SPLIT_US wide."""
    span = end_us - start_us
    pieces = 2
    if extent is not None:
        width = (extent[1] - extent[0]) * limit / (2 * max(count, 1))
        pieces = MAX_PIECES if width <= 0 else math.ceil(span / width)
    pieces = max(2, min(pieces, MAX_PIECES, span // (MIN_SPLIT_US // 2)))
    bounds = [start_us + span * i // pieces for i in range(pieces + 1)]
    return list(itertools.pairwise(bounds))
