"""A stand-in Elasticsearch node for unit tests (aiohttp on 127.0.0.1): `_bulk` stores by `_id` and answers 201 or
409, `_nodes/http` answers what the test sets, a status can be forced. Real nodes are in tests/integration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web


class FakeNode:
    """What the node received and stored; `status` forces an answer to every request (None: behave)."""

    def __init__(self) -> None:
        self.url = ""
        self.docs: dict[str, bytes] = {}
        self.paths: list[str] = []
        self.status: int | None = None
        self.nodes_answer: Callable[[FakeNode], Any] = lambda node: {"nodes": {
            "n1": {"roles": ["data", "master"], "http": {"publish_address": node.url.removeprefix("http://")}}}}

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if self.status is not None:
            return web.json_response({"error": {"type": "forced", "reason": "forced"}}, status=self.status)
        if request.path == "/_bulk":
            return self._bulk(await request.read())
        if request.path == "/_nodes/http":
            return web.json_response(self.nodes_answer(self))
        return web.json_response({"acknowledged": True})

    def _bulk(self, body: bytes) -> web.Response:
        lines = body.splitlines()
        items = []
        errors = False
        for action, doc in zip(lines[::2], lines[1::2], strict=True):
            doc_id = orjson.loads(action)["create"]["_id"]
            if doc_id in self.docs:
                errors = True
                items.append({"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}})
            else:
                self.docs[doc_id] = doc
                items.append({"create": {"status": 201}})
        return web.Response(body=orjson.dumps({"errors": errors, "items": items}), content_type="application/json")


@asynccontextmanager
async def fake_nodes(count: int) -> AsyncIterator[list[FakeNode]]:
    """`count` fake nodes, each on its own port."""
    nodes = [FakeNode() for _ in range(count)]
    runners = []
    try:
        for node in nodes:
            app = web.Application(client_max_size=64 * 2**20)
            app.router.add_route("*", "/{tail:.*}", node.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            node.url = f"http://127.0.0.1:{port}"
        yield nodes
    finally:
        for runner in runners:
            await runner.cleanup()
