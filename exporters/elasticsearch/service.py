"""The Elasticsearch exporter service: fetch stats every interval, render them once, serve the cached text."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.config import ElasticsearchExporterConfig
from exporters.elasticsearch import render
from observe.config import ElasticsearchConfig
from observe.es_connection import Connection, HttpError, PoolCollector, node_of
from observe.service import BaseService

log = logging.getLogger("observe.exporters.elasticsearch")

NODE_METRICS = "jvm,thread_pool,indices,fs,breaker"
FETCH_ERRORS = (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, HttpError)


class ElasticsearchService(BaseService):
    """Scrapes read the last rendered stats; a background task refreshes them every interval."""

    name = "elasticsearch-exporter"

    def __init__(self, config: ElasticsearchExporterConfig, es: ElasticsearchConfig, registry: CollectorRegistry) -> None:
        if not es.nodes():
            raise ValueError("elasticsearch.url: got nothing, expected the base URL of Elasticsearch or OpenSearch "
                             "(or elasticsearch.urls)")
        self.config = config
        self.es = es
        self.errors = Counter("observe_elasticsearch_fetch_errors", "Failed stats requests, by endpoint "
                              "(render: an answer the exporter failed to turn into metrics).",
                              ["endpoint"], registry=registry)
        self.body = {False: b"", True: b""}
        self.up = False
        self.fetched_at: float | None = None  # monotonic time of the last complete fetch
        self._conn = Connection(self.es, headers={"Accept": "application/json"})  # no I/O before the first request
        self._task: asyncio.Task[None] | None = None
        self._render_failed = False
        registry.register(_FreshnessCollector(self))
        registry.register(PoolCollector(self._conn, "observe_elasticsearch_client"))

    async def _get(self, endpoint: str, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            node, status, raw = await self._conn.request_node("GET", path, params=params)
            if status >= 400:
                raise HttpError(status, raw, node)
            return orjson.loads(raw)
        except FETCH_ERRORS:
            self.errors.labels(endpoint).inc()
            raise

    async def fetch(self) -> None:
        """One round of stats; on success the rendered text and its time replace the previous ones."""
        text = render.Text()
        render.health(text, await self._get("cluster_health", "/_cluster/health"))
        render.nodes(text, await self._get("nodes_stats", f"/_nodes/stats/{NODE_METRICS}"))
        if self.config.data_streams:
            doc = await self._get("data_streams", "/.ds-*/_stats/docs,store",
                                  {"level": "indices", "expand_wildcards": "all", "ignore_unavailable": "true",
                                   "allow_no_indices": "true"})
            render.data_streams(text, doc)
        self.body = {om: text.render(om) for om in (False, True)}
        self.fetched_at = time.monotonic()

    async def _loop(self) -> None:
        while True:
            try:
                await self.fetch()
                self.up = True
            except FETCH_ERRORS as exc:
                self.up = False
                log.warning("elasticsearch stats fetch failed", extra={
                    "error.message": f"{type(exc).__name__}: {exc}",
                    "url.full": (exc.node if isinstance(exc, HttpError) else node_of(exc)) or self._conn.describe()})
            except Exception:  # a bug of ours on some answer: report it and keep refreshing, never serve it stale
                self.up = False
                self.errors.labels("render").inc()
                log.error("elasticsearch stats could not be rendered; the last good stats are served with "
                          "elasticsearch_up 0", exc_info=not self._render_failed)  # the trace once
                self._render_failed = True
            await asyncio.sleep(self.config.interval_seconds)

    async def start(self) -> None:
        """Start the refresh loop (the connection opens its session on the first request)."""
        self._task = asyncio.create_task(self._loop(), name="elasticsearch-stats")

    async def stop(self) -> None:
        """Stop refreshing and close the connection."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._conn.close()

    def readiness(self) -> tuple[bool, str]:
        """Ready once one fetch has completed (elasticsearch_up tells whether the latest one did)."""
        return (True, "ok") if self.fetched_at is not None else (False, "no stats fetched yet")

    def exposition(self, openmetrics: bool) -> bytes:
        """The cached stats text (the freshness metrics come from the registry)."""
        return self.body[openmetrics]


class _FreshnessCollector(Collector):
    """elasticsearch_up and the age of the cached stats, computed at scrape time."""

    def __init__(self, service: ElasticsearchService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("elasticsearch_up", "1 when the last stats fetch from the cluster succeeded.",
                                value=1 if self.service.up else 0)
        age = GaugeMetricFamily("observe_elasticsearch_stats_age_seconds", "Seconds since the served stats were "
                                "fetched (no sample before the first fetch).")
        if self.service.fetched_at is not None:
            age.add_metric([], time.monotonic() - self.service.fetched_at)
        yield age

    def describe(self) -> Iterator[Metric]:
        return iter(())
