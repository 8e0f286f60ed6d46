"""A small HTTP proxy of ours (aiohttp, 127.0.0.1) in front of the real node that, on command, spoils `_bulk` answers.

Modes (set `BulkProxy.mode`; every other request passes through untouched):
- `pass`: forward as is;
- `not_json`: forward the bulk request (the node does index it), answer 200 with a body that is not JSON;
- `cut`: forward, then send the headers and half of the node's body and close the connection;
- `mismatch`: forward, answer 200 with an `items` list that does not match the request (alternately one item
  fewer than sent, and as many as sent but each an array instead of an object).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.peers.base import free_port


class BulkProxy:
    """Runs in a thread with its own event loop; `url` is what the shipper is pointed at."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "pass"
        self.spoiled = 0  # bulk answers spoiled so far
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bulk-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> BulkProxy:
        self._thread.start()
        assert self._started.wait(10), "proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._started.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        # The answer is read decoded and sent back plain (no Content-Encoding), so ask the node for it plain.
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "accept-encoding")}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as up:
            status, raw = up.status, await up.read()
            ctype = up.headers.get("Content-Type", "application/json")
        mode = self.mode
        if request.path != "/_bulk" or mode == "pass" or status != 200:
            return web.Response(status=status, body=raw, headers={"Content-Type": ctype,
                                                                  "X-Elastic-Product": "Elasticsearch"})
        self.spoiled += 1
        if mode == "not_json":
            return web.Response(status=200, body=b"<html><body>502 Bad Gateway (not really)</body></html>",
                                content_type="text/html")
        if mode == "mismatch":
            items: list[Any] = orjson.loads(raw).get("items", [])
            # Alternately: one item fewer than sent, and as many items as sent but each an array, not an object.
            spoiled = items[:-1] if self.spoiled % 2 else [list(item.values()) for item in items]
            return web.Response(status=200, body=orjson.dumps({"errors": True, "items": spoiled}),
                                content_type="application/json")
        # cut: a promised length, half of it, and the connection closed.
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Content-Length": str(len(raw))})
        await resp.prepare(request)
        await resp.write(raw[: len(raw) // 2])
        transport = request.transport
        if transport is not None:
            transport.close()
        return resp
