"""A small client of Jaeger's query API: services and traces, with errors sorted into a few reasons.

Two APIs answer traces: Jaeger v2's stable `/api/v3` (OTLP JSON) and the older `/api/traces` (Jaeger JSON, which
v1 servers and the v2 UI serve). With `api="auto"` the client asks `/api/v3/services` once and uses v3 when the
server answers it, else `/api/traces`.
"""

from __future__ import annotations

import time

import aiohttp
import msgspec

from observe.traces.model import decode_services

V3, V1 = "v3", "v1"
EMPTY_V3 = b'{"result":{"resourceSpans":[]}}'


class _V3Services(msgspec.Struct):
    services: list[str] | None = None


class JaegerError(Exception):
    """A request to Jaeger failed; `reason` is one of connection, timeout, http_4xx, http_5xx, decode."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class JaegerClient:
    """GETs against the query service at base_url."""

    def __init__(self, base_url: str, timeout_s: float, api: str = "auto") -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.api: str | None = None if api == "auto" else api

    async def detect(self) -> str:
        """The API this server answers (asked once): v3 when /api/v3/services works, else v1."""
        if self.api is None:
            try:
                body = await self._get("/api/v3/services", {})
                found = msgspec.json.decode(body, type=_V3Services).services is not None
            except JaegerError as exc:
                if exc.reason != "http_4xx":
                    raise  # down or failing: decide on a later pull
                found = False
            except msgspec.DecodeError:
                found = False
            self.api = V3 if found else V1
        return self.api

    async def _get(self, path: str, params: dict[str, str], empty_on_404: bytes | None = None) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self.base_url + path
        try:
            async with self._session.get(url, params=params) as resp:
                body = await resp.read()
                if resp.status == 404 and empty_on_404 is not None:
                    return empty_on_404  # api/v3 answers 404 when no trace matches
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
        if await self.detect() == V3:
            body = await self._get("/api/v3/services", {})
            try:
                return msgspec.json.decode(body, type=_V3Services).services or []
            except msgspec.DecodeError as exc:
                raise JaegerError("decode", f"/api/v3/services: {exc}") from None
        body = await self._get("/api/services", {})
        try:
            return decode_services(body)
        except msgspec.DecodeError as exc:
            raise JaegerError("decode", f"/api/services: {exc}") from None

    async def traces(self, service: str, start_us: int, end_us: int, limit: int) -> tuple[str, bytes]:
        """(api, raw answer) for traces of `service` with spans starting in [start_us, end_us]: OTLP JSON from
        /api/v3/traces, or Jaeger JSON from /api/traces."""
        if await self.detect() == V3:
            return V3, await self._get("/api/v3/traces", {
                "query.service_name": service, "query.start_time_min": _rfc3339(start_us),
                "query.start_time_max": _rfc3339(end_us), "query.num_traces": str(limit)}, empty_on_404=EMPTY_V3)
        return V1, await self._get("/api/traces", {"service": service, "start": str(start_us), "end": str(end_us),
                                                   "limit": str(limit)})

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _rfc3339(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 with nanoseconds, in UTC."""
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}000Z"
