"""A small client of Jaeger's query API: services and traces, with errors sorted into a few reasons."""

from __future__ import annotations

import aiohttp
import msgspec

from observe.traces.model import decode_services


class JaegerError(Exception):
    """A request to Jaeger failed; `reason` is one of connection, timeout, http_4xx, http_5xx, decode."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class JaegerClient:
    """GETs against the query service at base_url."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self.base_url + path
        try:
            async with self._session.get(url, params=params) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    kind = "http_5xx" if resp.status >= 500 else "http_4xx"
                    raise JaegerError(kind, f"GET {url} -> {resp.status}: {body[:200]!r}")
                return body
        except TimeoutError:
            raise JaegerError("timeout", f"GET {url} took longer than {self._timeout.total}s") from None
        except aiohttp.ClientError as exc:
            raise JaegerError("connection", f"GET {url}: {exc}") from None

    async def services(self) -> list[str]:
        """The services Jaeger has spans for."""
        body = await self._get("/api/services", {})
        try:
            return decode_services(body)
        except msgspec.DecodeError as exc:
            raise JaegerError("decode", f"/api/services: {exc}") from None

    async def traces(self, service: str, start_us: int, end_us: int, limit: int) -> bytes:
        """The raw /api/traces answer for traces of `service` with spans starting in [start_us, end_us]."""
        return await self._get("/api/traces", {"service": service, "start": str(start_us), "end": str(end_us),
                                               "limit": str(limit)})

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
