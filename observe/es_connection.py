"""The one way to talk to Elasticsearch, OpenSearch or Kibana: auth header, TLS context, session, error explanations.

Used by the log shipper's sink, the Elasticsearch exporter and `observe kibana import`, so they agree on what a
credential means and on what "verification off" does.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from observe.config import ElasticsearchConfig


class HttpError(Exception):
    """A non-2xx answer to a request whose body we do not parse further."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status
        self.body = body


def auth_header(*, api_key: str | None, username: str | None, password: str | None) -> dict[str, str]:
    """Authorization from an API key (wins), or basic auth; empty when there is neither."""
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if username:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def auth_headers(config: ElasticsearchConfig) -> dict[str, str]:
    """Authorization for the configured Elasticsearch (the secret from env or a file, never the YAML)."""
    api_key = config.api_key()
    if api_key:
        return auth_header(api_key=api_key, username=None, password=None)
    return auth_header(api_key=None, username=config.username, password=config.password() if config.username else None)


def tls_context(url: str, *, verify: bool, ca_file: Path | str | None = None) -> ssl.SSLContext | bool:
    """Verify with the given CA (or the system's); `False` (aiohttp: no verification) only when switched off."""
    if not url.startswith("https"):
        return True
    if not verify:
        return False
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def ssl_context(config: ElasticsearchConfig) -> ssl.SSLContext | bool:
    """The TLS context for the configured Elasticsearch."""
    return tls_context(config.url, verify=config.verify_certs, ca_file=config.ca_file)


def open_session(config: ElasticsearchConfig, *, connections: int = 100,
                 headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A client session to the configured Elasticsearch (call inside the loop): auth, TLS and timeout set."""
    return aiohttp.ClientSession(
        headers={**(headers or {"Content-Type": "application/json"}), **auth_headers(config)},
        timeout=aiohttp.ClientTimeout(total=config.request_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=connections, ssl=ssl_context(config)),
        json_serialize=lambda o: orjson.dumps(o).decode(),
    )


class Connection:
    """One configured Elasticsearch: a session opened on first use (inside the loop), JSON requests, close."""

    def __init__(self, config: ElasticsearchConfig, *, connections: int = 100,
                 headers: dict[str, str] | None = None) -> None:
        self.config = config
        self.base = config.url.rstrip("/")
        self._connections = connections
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared client session (created on first use)."""
        if self._session is None or self._session.closed:
            self._session = open_session(self.config, connections=self._connections, headers=self._headers)
        return self._session

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                      params: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """One request with an optional JSON body: (status, body)."""
        data = orjson.dumps(body) if body is not None else None
        async with self.session().request(method, self.base + path, data=data, params=params) as resp:
            return resp.status, await resp.read()

    async def put(self, path: str, body: Mapping[str, Any]) -> None:
        """PUT a JSON body; HttpError unless the answer is 2xx."""
        status, raw = await self.request("PUT", path, body)
        if status >= 300:
            raise HttpError(status, raw)

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()


def explain(exc: BaseException, config: ElasticsearchConfig) -> tuple[str, str]:
    """(error.type, a sentence an operator can act on) for a failed request; TLS and credentials named as such."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        why = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or str(cert)
        trust = f"the CA in elasticsearch.ca_file ({config.ca_file})" if config.ca_file else "the system CAs"
        return "tls", (f"TLS: the certificate of {exc.host}:{exc.port} is not trusted by {trust}: "
                       f"certificate verify failed: {why}")
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls", f"TLS handshake with {config.url} failed: {exc}"
    if isinstance(exc, HttpError) and exc.status in (401, 403):
        if config.api_key():
            who = "the API key (OBSERVE_ES_API_KEY or elasticsearch.api_key_file)"
        elif config.username:
            who = f"basic auth as {config.username!r} (OBSERVE_ES_PASSWORD or elasticsearch.password_file)"
        else:
            who = "no credentials (set elasticsearch.username and a password, or an API key)"
        what = "refuses" if exc.status == 401 else "does not allow this with"
        return "auth", f"HTTP {exc.status}: the server {what} {who}: {exc.body[:300].decode(errors='replace')}"
    return type(exc).__name__, str(exc)
