"""The `traces` service: the puller on an apscheduler interval, its metrics, and the /graph page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from observe.service import BaseService
from observe.traces.config import TracesConfig
from observe.traces.graph import render_page
from observe.traces.puller import Puller

log = logging.getLogger("observe.traces")
STOP_GRACE_SECONDS = 0.3  # how long stop() lets a pull in flight finish before cancelling it


class TracesService(BaseService):
    """Pulls traces from Jaeger every interval; serves the RED families and the service graph."""

    name = "traces"

    def __init__(self, config: TracesConfig, registry: CollectorRegistry) -> None:
        self.config = config
        self.puller = Puller(config, registry)
        self._scheduler: AsyncIOScheduler | None = None
        self._current: asyncio.Task[bool] | None = None
        self._stopping = False

    async def _run(self) -> None:
        if self._stopping:
            return
        # The pull runs in its own task so stop() can cancel it without the scheduler's job seeing a cancellation
        # (apscheduler logs that as an ERROR with a CancelledError traceback).
        tick = self._current = asyncio.create_task(self.puller.tick())
        try:
            await tick
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except Exception:  # a bug must not stop the schedule; it is logged with its traceback
            log.exception("trace pull crashed")
        finally:
            self._current = None

    async def start(self) -> None:
        """Resume from the state file and schedule the first pull now."""
        try:
            await asyncio.to_thread(self.puller.load_state)
        except ValueError as exc:
            log.error(str(exc), extra={"file.path": str(self.config.state_file)})
            raise SystemExit(2) from None
        # apscheduler logs every run at info, and a warning for each run skipped while a slow pull is still going;
        # neither says anything the puller's own logs and metrics do not (pull failures, watermark lag).
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(self._run, "interval", seconds=self.config.interval_seconds,
                                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                                misfire_grace_time=None, id="pull")
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling and let a pull in flight finish (it saves the state as it goes)."""
        self._stopping = True
        self.puller.stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        current = self._current
        if current is not None:
            # A window is committed (watermark and state file) only whole, so a pull cut short is simply asked
            # again after the restart: give it a moment to finish, then cancel it.
            done, _ = await asyncio.wait([current], timeout=STOP_GRACE_SECONDS)
            if not done:
                current.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await current
        await self.puller.close()

    def readiness(self) -> tuple[bool, str]:
        """Ready after one successful pull, and not while Jaeger is failing."""
        if self.puller.failures:
            return False, f"jaeger failing: {self.puller.last_error}"
        if not self.puller.pulled_once:
            return False, "first pull not done yet"
        return True, "ok"

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.get("/graph", self._graph), web.get("/graph.json", self._graph_json)]

    async def _graph(self, request: web.Request) -> web.Response:
        return web.Response(text=render_page(self.puller.graph), content_type="text/html")

    async def _graph_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self.puller.graph.to_json(), content_type="application/json")

    def exposition(self, openmetrics: bool) -> bytes:
        return self.puller.openmetrics if openmetrics else self.puller.text
