"""A cluster-sized exposition handed to the kit in pieces is written whole, byte for byte, in both formats."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client import CollectorRegistry

from observe.config import ServiceConfig
from observe.service import STREAM_ABOVE_BYTES, BaseService, ServiceHost
from tests.integration.exporters.checks import promtool_check

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


class Big(BaseService):
    """Many families of many samples, as pieces (the way the cluster exporter hands them over)."""

    name = "big"

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        for f in range(6):
            self.pieces.append(f"# HELP big_{f} Big family {f}.\n# TYPE big_{f} gauge\n".encode())
            self.pieces.append(b"".join(f'big_{f}{{pod="pod-{i:06d}",namespace="ns-{i % 50}"}} {i}\n'.encode()
                                        for i in range(12_000)))

    def exposition_parts(self, openmetrics: bool) -> list[bytes]:
        return self.pieces

    def exposition(self, openmetrics: bool) -> bytes:
        return b"".join(self.pieces)


async def test_pieces_are_streamed_whole_with_content_length() -> None:
    big = await asyncio.to_thread(Big)  # 72,000 formatted lines: ~0.09 CPU-s, too long to hold the loop
    expected = b"".join(big.pieces)
    assert len(expected) > 2 * STREAM_ABOVE_BYTES
    registry = CollectorRegistry()
    host = ServiceHost(ServiceConfig(port=0), [big], registry)  # type: ignore[call-arg]
    await host.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{host.port}/metrics") as r:
                text = await r.read()
                assert r.status == 200 and r.headers["Content-Length"] == str(len(text))
                assert "Transfer-Encoding" not in r.headers
            async with s.get(f"http://127.0.0.1:{host.port}/metrics", headers={"Accept": OPENMETRICS}) as r:
                om = await r.read()
                assert r.headers["Content-Length"] == str(len(om))
    finally:
        await host.shutdown()
    # The kit's own families come first, then every piece in order.
    assert text.endswith(expected) and b"observe_service_ready" in text[: -len(expected)]
    assert om.endswith(expected + b"# EOF\n") and om.count(b"# EOF") == 1
    await promtool_check(text)
