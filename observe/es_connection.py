"""The one way to talk to Elasticsearch, OpenSearch or Kibana: auth header, TLS context, session, the cluster's
nodes (observe/es_nodes.py: round robin, dead nodes rested and probed, sniffing), error explanations.

Used by the log shipper's sink, the Elasticsearch exporter and `observe kibana import`, so they agree on what a
credential means and on what "verification off" does.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from observe.config import ElasticsearchConfig
from observe.es_nodes import Clock, Node, NodePool, sniffed_urls

log = logging.getLogger("observe.es")

# What marks a node dead: no answer at all. An HTTP status, even 5xx, is an answer (es_nodes.py says why).
TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, OSError)
SNIFF_PATH = "/_nodes/http"
SNIFF_PARAMS = {"filter_path": "nodes.*.http.publish_address,nodes.*.roles"}
SNIFF_OUTCOMES = ("ok", "empty", "error")


class HttpError(Exception):
    """A non-2xx answer to a request whose body we do not parse further (`node`: who answered, when known)."""

    def __init__(self, status: int, body: bytes, node: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status
        self.body = body
        self.node = node


def failure_reason(exc: BaseException) -> str:
    """`timeout` or `connection`: the reason label of a node's failure."""
    return "timeout" if isinstance(exc, TimeoutError) else "connection"


def name_node(exc: BaseException, url: str) -> None:
    """Record on a failed request's exception which node it went to (explain() and log lines name it)."""
    try:
        exc.es_node = url  # type: ignore[attr-defined]
    except AttributeError:
        pass


def node_of(exc: BaseException) -> str | None:
    """The base URL of the node a failed request went to, when the connection recorded it."""
    node = getattr(exc, "node", None) or getattr(exc, "es_node", None)
    return node if isinstance(node, str) else None


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
    """The TLS context for the configured Elasticsearch (its URLs share one scheme)."""
    nodes = config.nodes()
    return tls_context(nodes[0] if nodes else "", verify=config.verify_certs, ca_file=config.ca_file)


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
    """One configured cluster: its node pool, a session opened on first use (inside the loop), JSON requests
    that move to the next live node when one does not answer, sniffing when configured, close."""

    def __init__(self, config: ElasticsearchConfig, *, connections: int = 100,
                 headers: dict[str, str] | None = None, clock: Clock = time.monotonic) -> None:
        seeds = config.nodes()
        if not seeds:
            raise ValueError("elasticsearch.urls: got nothing, expected at least one base URL")
        self.config = config
        self.seeds = seeds
        self.scheme = seeds[0].split("://", 1)[0]
        self.pool = NodePool(seeds, initial=config.dead_node_backoff_seconds,
                             maximum=config.dead_node_backoff_max_seconds, clock=clock)
        self.sniffs = dict.fromkeys(SNIFF_OUTCOMES, 0)
        self._connections = connections
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._sniffer: asyncio.Task[None] | None = None
        self._sniff_now = asyncio.Event()

    def describe(self) -> str:
        """The nodes, for a log line: `http://a:9200, http://b:9200`."""
        return ", ".join(self.pool.urls())

    def session(self) -> aiohttp.ClientSession:
        """The shared client session (created on first use; sniffing starts with it when configured)."""
        if self._session is None or self._session.closed:
            self._session = open_session(self.config, connections=self._connections, headers=self._headers)
        if self.config.sniff and self._sniffer is None:
            self._sniffer = asyncio.get_running_loop().create_task(self._sniff_forever(), name="es-sniff")
        return self._session

    def node_failed(self, node: Node, exc: BaseException) -> None:
        """`node` did not answer (`exc`): it rests, the exception names it, and a sniff is due."""
        rest = self.pool.mark_dead(node, failure_reason(exc))
        name_node(exc, node.url)
        log.warning("an Elasticsearch node does not answer; requests go to the others", extra={
            "url.full": node.url, "error.type": failure_reason(exc), "error.message": str(exc) or type(exc).__name__,
            "event.retry_in_s": round(rest, 2), "observe.nodes_usable": sum(map(self.pool.usable, self.pool.nodes))})
        self._sniff_now.set()

    async def request_node(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                           params: Mapping[str, str] | None = None) -> tuple[str, int, bytes]:
        """One request with an optional JSON body: (node, status, body). A node that does not answer is marked dead
        and the request goes to the next usable one; when none is left, the last error is raised (naming its node).
        Only for requests that may run twice (reads, idempotent PUTs): a timeout may hide a request that ran."""
        data = orjson.dumps(body) if body is not None else None
        tried: list[Node] = []
        while True:
            node = self.pool.next(exclude=tried)
            try:
                async with self.session().request(method, node.url + path, data=data, params=params) as resp:
                    raw = await resp.read()
            except TRANSPORT_ERRORS as exc:
                self.node_failed(node, exc)
                tried.append(node)
                if self.pool.has_usable(exclude=tried):
                    continue
                raise
            self.pool.mark_alive(node)
            return node.url, resp.status, raw

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                      params: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """One request with an optional JSON body, to the first node that answers: (status, body)."""
        _, status, raw = await self.request_node(method, path, body, params)
        return status, raw

    async def put(self, path: str, body: Mapping[str, Any]) -> None:
        """PUT a JSON body; HttpError unless the answer is 2xx."""
        node, status, raw = await self.request_node("PUT", path, body)
        if status >= 300:
            raise HttpError(status, raw, node)

    async def sniff(self) -> list[str] | None:
        """Ask the cluster for its nodes (GET /_nodes/http); the pool takes them when the answer names any.
        With every node dead, the configured URLs come back first: sniffed addresses may all be stale."""
        if not self.pool.has_usable() and self.pool.urls() != self.seeds:
            self.pool.replace([*self.seeds, *self.pool.urls()])
        try:
            node, status, raw = await self.request_node("GET", SNIFF_PATH, params=SNIFF_PARAMS)
            if status >= 300:
                raise HttpError(status, raw, node)
            urls = sniffed_urls(raw, self.scheme)
        except (*TRANSPORT_ERRORS, HttpError, ValueError) as exc:
            self.sniffs["error"] += 1
            log.warning("cannot sniff the Elasticsearch nodes; keeping the list", extra={
                "url.full": node_of(exc) or self.describe(), "error.message": str(exc) or type(exc).__name__})
            return None
        if not urls:
            self.sniffs["empty"] += 1
            log.warning("the cluster named no HTTP node; keeping the list", extra={"url.full": node})
            return None
        self.sniffs["ok"] += 1
        if self.pool.replace(urls):
            log.info("Elasticsearch nodes sniffed", extra={"url.full": node, "observe.nodes": ", ".join(urls)})
        return urls

    async def _sniff_forever(self) -> None:
        gap = self.config.dead_node_backoff_seconds
        while True:
            self._sniff_now.clear()
            await self.sniff()
            try:
                async with asyncio.timeout(self.config.sniff_interval_seconds):
                    await self._sniff_now.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(gap)  # a node failed: sniff soon, but not once per failed request

    async def close(self) -> None:
        """Stop sniffing and close the session."""
        if self._sniffer is not None:
            self._sniffer.cancel()
            try:
                await self._sniffer
            except asyncio.CancelledError:
                pass
            self._sniffer = None
        if self._session is not None:
            await self._session.close()


class PoolCollector(Collector):
    """`<prefix>_node_up`, `_node_requests_total`, `_node_failures_total` per node, `_sniffs_total` per outcome:
    built at scrape time, so nodes a sniff removed leave no series behind."""

    def __init__(self, conn: Connection, prefix: str) -> None:
        self.conn = conn
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        up = GaugeMetricFamily(f"{p}_node_up", "1 while the node answers, 0 while it rests after a connection error "
                               "or timeout (it is probed again when its rest ends).", labels=["node"])
        requests = CounterMetricFamily(f"{p}_node_requests", "Requests sent to the node (a rested node's probe too).",
                                       labels=["node"])
        failures = CounterMetricFamily(f"{p}_node_failures", "Requests the node did not answer, by reason "
                                       "(connection, timeout); each marks it dead.", labels=["node", "reason"])
        for node in self.conn.pool.nodes:
            up.add_metric([node.url], 1 if node.alive else 0)
            requests.add_metric([node.url], node.requests)
            for reason in ("connection", "timeout"):
                failures.add_metric([node.url, reason], node.failed.get(reason, 0))
        sniffs = CounterMetricFamily(f"{p}_sniffs", "Sniffs of the node list (GET /_nodes/http), by outcome: ok, "
                                     "empty (no HTTP node named; the list stays), error.", labels=["outcome"])
        for outcome, n in self.conn.sniffs.items():
            sniffs.add_metric([outcome], n)
        yield from (up, requests, failures, sniffs)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def explain(exc: BaseException, config: ElasticsearchConfig) -> tuple[str, str]:
    """(error.type, a sentence an operator can act on) for a failed request; TLS and credentials named as such."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        why = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or str(cert)
        trust = f"the CA in elasticsearch.ca_file ({config.ca_file})" if config.ca_file else "the system CAs"
        return "tls", (f"TLS: the certificate of {exc.host}:{exc.port} is not trusted by {trust}: "
                       f"certificate verify failed: {why}")
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls", f"TLS handshake with {node_of(exc) or ', '.join(config.nodes())} failed: {exc}"
    if isinstance(exc, HttpError) and exc.status in (401, 403):
        if config.api_key():
            who = "the API key (OBSERVE_ES_API_KEY or elasticsearch.api_key_file)"
        elif config.username:
            who = f"basic auth as {config.username!r} (OBSERVE_ES_PASSWORD or elasticsearch.password_file)"
        else:
            who = "no credentials (set elasticsearch.username and a password, or an API key)"
        what = "refuses" if exc.status == 401 else "does not allow this with"
        where = f" ({exc.node})" if exc.node else ""
        return "auth", (f"HTTP {exc.status}: the server{where} {what} {who}: "
                        f"{exc.body[:300].decode(errors='replace')}")
    node = node_of(exc)
    text = str(exc) or type(exc).__name__
    return type(exc).__name__, f"{node}: {text}" if node and node not in text else text
