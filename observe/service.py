"""The service kit: one aiohttp app serving /metrics, /healthz, /readyz for one or more services."""

from __future__ import annotations

import asyncio
import atexit
import errno
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from typing import NoReturn, Protocol, runtime_checkable

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Info
from prometheus_client.exposition import choose_encoder

from observe import __version__, tracing
from observe.config import ServiceConfig
from observe.exposition import OPENMETRICS_EOF
from observe.service_errors import StartError

log = logging.getLogger("observe.service")


STREAM_ABOVE_BYTES = 1 << 20
WRITE_SLICE_BYTES = 1 << 20

# Prometheus' X-Prometheus-Scrape-Timeout-Seconds of the scrape being answered, for exposition() to budget its work.
scrape_timeout: ContextVar[float | None] = ContextVar("scrape_timeout", default=None)


def exit_process(code: int) -> NoReturn:
    """End the process after a drain the way a normal exit would, without tearing every module down one by one.

    The atexit handlers run (logging's flush, temporary credential files removed, span export shutdown), stdout
    and stderr are flushed, then the process exits with `code`. Interpreter finalization of the ~550 loaded
    modules would cost about 0.1 CPU-s more and change nothing anyone can observe (issue 18).
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# The young generation's threshold for a pipeline process (CPython's default is 700 net allocations).
GC_YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collector settings for `observe ship` and `observe export` (issue 18), called once start-up is done.

    gc.freeze() moves start-up's objects (modules, config models; about 55,000) to the permanent generation, so
    the full collections that a stream of surviving records keeps triggering no longer walk them every time. A
    young threshold of 50,000 instead of 700 lets a chunk's records die by reference count before a collection
    promotes them. Measured on 100,000-line runs into the null sink, CPU per line: nginx parser 0.74-0.85 and json
    parser 0.85-0.89 of CPython's defaults, the fast path and multiline unchanged (bench/bench_corpora.py has the
    whole-process figures); the cluster exporter at 10,000 pods spent 9.7-10.3 ms of CPU per scrape against
    12.7-14.0. No collection is run first: at that point it would free a few dozen objects for about 30 ms of CPU.
    The console script runs start-up with the collector off (observe/app/start.py); this turns it on.
    Not called by tests' in-process services: it would freeze the test runner's objects.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, gen1, gen2)
    gc.enable()  # the console script starts with it off (observe/app/start.py)


@runtime_checkable
class Service(Protocol):
    """What the kit runs: a named unit with a lifecycle, a readiness answer and optional extra routes."""

    name: str

    async def start(self) -> None:
        """Start background work; return once it is running."""

    async def stop(self) -> None:
        """Stop intake and drain in-flight work; the kit bounds this by the drain deadline."""

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): ready only once the service's own dependencies are reachable."""

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """Extra HTTP routes this service serves, e.g. /probe or /graph."""

    def exposition(self, openmetrics: bool) -> bytes:
        """Pre-rendered metric text to append to /metrics (b"" for none)."""


class BaseService:
    """Defaults for the Service protocol, so a service writes only what it has."""

    name = "service"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def readiness(self) -> tuple[bool, str]:
        return True, "ok"

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return ()

    def exposition(self, openmetrics: bool) -> bytes:
        return b""


class BindError(StartError):
    """The HTTP port cannot be bound; the message names the address, the port and how to choose another."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        super().__init__(f"port {port} on {host} {why}; choose another with --port (where the command has it), "
                         "service.port in the config file or OBSERVE_SERVICE__PORT")


class ServiceHost:
    """Runs services on one event loop behind one HTTP port, and drains them on SIGTERM."""

    def __init__(self, config: ServiceConfig, services: Sequence[Service], registry: CollectorRegistry) -> None:
        self.config = config
        self.services = list(services)
        self.registry = registry
        self._stop = asyncio.Event()
        self.started = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._running: list[Service] = []
        self.port: int = config.port
        Info("observe_build", "Version of the running observe build.", registry=registry).info(
            {"version": __version__}
        )
        self._ready = Gauge(
            "observe_service_ready", "1 when the service reports ready.", ["service"], registry=registry
        )

    def app(self) -> web.Application:
        """The aiohttp application with the kit's routes and every service's own routes."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        for svc in self.services:
            app.router.add_routes(list(svc.routes()))
        return app

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        # One span per scrape, for every service alike (exporter scrapes included); OpenTelemetry is not even
        # imported when tracing is off.
        if not tracing.enabled():
            return await self._scrape(request)
        from opentelemetry.trace import SpanKind

        with tracing.tracer("observe.service").start_as_current_span("metrics.scrape", kind=SpanKind.SERVER) as span:
            resp = await self._scrape(request)
            if span.is_recording():
                span.set_attributes({
                    "observe.service.names": [svc.name for svc in self.services],
                    "url.path": request.path,
                    "http.response.status_code": resp.status,
                    "http.response.body.size": resp.content_length or 0,
                    "observe.openmetrics": resp.content_type.startswith("application/openmetrics-text"),
                })
            return resp

    async def _scrape(self, request: web.Request) -> web.StreamResponse:
        for svc in self.services:
            self._ready.labels(svc.name).set(1 if svc.readiness()[0] else 0)
        try:
            scrape_timeout.set(float(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds", "")))
        except ValueError:
            scrape_timeout.set(None)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        openmetrics = content_type.startswith("application/openmetrics-text")
        body = encoder(self.registry)
        extra: list[bytes] = []
        for svc in self.services:
            # A service with a large exposition may hand over its pieces, so they are written without a joined copy.
            parts = getattr(svc, "exposition_parts", None)
            extra.extend(parts(openmetrics) if parts is not None else [svc.exposition(openmetrics)])
        if not any(extra):
            return web.Response(body=body, headers={"Content-Type": content_type})
        if openmetrics and body.endswith(OPENMETRICS_EOF):
            body = body[: -len(OPENMETRICS_EOF)]
        pieces = [body, *extra, OPENMETRICS_EOF if openmetrics else b""]
        size = sum(len(p) for p in pieces)
        if size < STREAM_ABOVE_BYTES:
            return web.Response(body=b"".join(pieces), headers={"Content-Type": content_type})
        # Tens of MB (a cluster exporter): written in slices with backpressure, never joined nor buffered whole.
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = size
        await resp.prepare(request)
        for piece in pieces:
            view = memoryview(piece)
            for start in range(0, len(view), WRITE_SLICE_BYTES):
                await resp.write(view[start:start + WRITE_SLICE_BYTES])
        await resp.write_eof()
        return resp

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        states = {svc.name: svc.readiness() for svc in self.services}
        ready = all(ok for ok, _ in states.values())
        body = {"ready": ready, "services": {n: {"ready": ok, "reason": why} for n, (ok, why) in states.items()}}
        return web.Response(
            body=orjson.dumps(body) + b"\n", status=200 if ready else 503, content_type="application/json"
        )

    async def start(self) -> None:
        """Bind the HTTP port first (a port in use must fail before any work starts), then start every service."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise BindError(self.config.host, self.config.port, exc) from None
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        log.info("listening", extra={"url.full": f"http://{self.config.host}:{self.port}"})
        for svc in self.services:
            await svc.start()
            self._running.append(svc)
            log.info("service started", extra={"service": svc.name})
        self.started.set()

    def request_stop(self) -> None:
        """Ask the host to stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def shutdown(self) -> bool:
        """Stop intake and drain every service within the deadline; True when all drained in time."""
        clean = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.drain_timeout_seconds
        try:
            async with asyncio.timeout(self.config.drain_timeout_seconds):
                await asyncio.gather(*(svc.stop() for svc in self.services))
        except TimeoutError:
            clean = False
            log.error("drain deadline passed; exiting with work in flight",
                      extra={"event.duration_s": self.config.drain_timeout_seconds})
        if self._runner is not None:
            await self._runner.cleanup()
        # Spans are exported in batches: send what is left within the rest of the deadline (a short grace if none).
        budget = max(deadline - loop.time(), 0.5)
        if not await asyncio.to_thread(tracing.flush, budget):
            log.warning("spans not exported before the deadline", extra={"event.timeout_s": round(budget, 2)})
        return clean

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT, then drain; the exit code is 0 after a drain."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            await self.start()
        except StartError as exc:  # a port in use, missing credentials: say so, undo what started, exit 2
            for svc in reversed(self._running):
                await svc.stop()
            if self._runner is not None:
                await self._runner.cleanup()
            print(f"observe: {exc}", file=sys.stderr)
            return 2
        await self._stop.wait()
        log.info("stopping: draining services", extra={"event.timeout_s": self.config.drain_timeout_seconds})
        began = loop.time()
        await self.shutdown()
        log.info("stopped", extra={"event.duration_s": round(loop.time() - began, 3)})
        return 0
