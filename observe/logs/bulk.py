"""The Elasticsearch / OpenSearch sink: our own `_bulk` over aiohttp, one outcome per item.

- 2xx: delivered; 409 on `create`: already there (a retry or a replay), also success.
- 429, 5xx, timeouts, connection errors: retried (only the failed items), jittered exponential backoff, forever.
- mapping errors and other 4xx: written to the dead-letter stream with the original document and the error.
- a whole request refused with a 4xx (malformed or too large): split in halves until the culprit is alone.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from observe.config import ElasticsearchConfig
from observe.logs import templates
from observe.logs.batch import Batch
from observe.logs.config import LogsConfig
from observe.logs.encode import source_of
from observe.logs.metrics import ShipperMetrics
from observe.tracing import tracer

log = logging.getLogger("observe.logs.bulk")

BULK_PATH = "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
MAPPING_ERRORS = frozenset({
    "mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception",
    "illegal_argument_exception", "mapper_exception",
})

# A pending item: its bytes and, for a dead-letter write, the reason it was dead-lettered.
Item = tuple[bytes, str | None]


class HttpError(Exception):
    """A non-2xx answer to a setup request."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status
        self.body = body


def auth_headers(config: ElasticsearchConfig) -> dict[str, str]:
    """Authorization from an API key, or basic auth (the secret from env or a file)."""
    api_key = config.api_key()
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if config.username:
        token = base64.b64encode(f"{config.username}:{config.password() or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


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


def ssl_context(config: ElasticsearchConfig) -> ssl.SSLContext | bool:
    """Verify with the configured CA (or the system's); `False` only when verification is switched off."""
    if not config.url.startswith("https"):
        return True
    if not config.verify_certs:
        return False
    return ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)


class BulkSink:
    """Delivers batches to Elasticsearch or OpenSearch exactly once (deterministic ids, op_type=create)."""

    name = "elasticsearch"

    def __init__(self, es: ElasticsearchConfig, logs: LogsConfig, metrics: ShipperMetrics) -> None:
        self.es = es
        self.logs = logs
        self.metrics = metrics
        self.base = es.url.rstrip("/")
        self.engine: str = es.engine
        self.lifecycle: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._setup_done = asyncio.Event()
        self._setup_task: asyncio.Task[None] | None = None
        self._state = "not started"
        self._failing_since: float | None = None
        self._last_failure = ""  # what the latest failed bulk request met, for /readyz
        self._acked = {o: metrics.events_acked.labels(o) for o in ("delivered", "duplicate", "deadlettered")}
        self._streams: set[str] = set()  # more data streams pods chose by annotation (observe/logs/enrich.py)
        self._tracer = tracer("observe.logs")

    # ---- HTTP --------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        """The shared client session (created on first use, inside the loop)."""
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json", **auth_headers(self.es)}
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.es.request_timeout_seconds),
                connector=aiohttp.TCPConnector(limit=self.logs.max_in_flight + 2, ssl=ssl_context(self.es)),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        """One setup request: (status, body)."""
        data = orjson.dumps(body) if body is not None else None
        async with self.session().request(method, self.base + path, data=data) as resp:
            return resp.status, await resp.read()

    async def _put(self, path: str, body: Mapping[str, Any]) -> None:
        status, raw = await self.request("PUT", path, body)
        if status >= 300:
            raise HttpError(status, raw)

    # ---- setup -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._setup_task = asyncio.create_task(self._setup_forever(), name="logs-sink-setup")

    async def _setup_forever(self) -> None:
        delay = self.logs.retry_initial_seconds
        while True:
            try:
                await self.setup()
                self._state = f"{self.engine} ready"
                self._setup_done.set()
                return
            except (aiohttp.ClientError, OSError, TimeoutError, HttpError) as exc:
                kind, why = explain(exc, self.es)
                self._state = f"setup failed: {why}"
                # TLS and credentials do not heal by waiting: an error, though retried in case a Secret is rotated.
                log.log(logging.ERROR if kind in ("tls", "auth") else logging.WARNING,
                        "cannot set up the log data streams yet; retrying",
                        extra={"url.full": self.base, "error.type": kind, "error.message": why,
                               "event.retry_in_s": round(delay, 2)})
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.logs.retry_max_seconds)

    async def detect_engine(self) -> str:
        """`opensearch` when GET / says so; otherwise Elasticsearch (a core node has no GET /)."""
        if self.engine != "auto":
            return self.engine
        status, raw = await self.request("GET", "/")
        if status == 200:
            try:
                info = orjson.loads(raw)
                if info.get("version", {}).get("distribution") == "opensearch":
                    return "opensearch"
            except (orjson.JSONDecodeError, AttributeError):
                pass
        return "elasticsearch"

    async def setup(self) -> None:
        """Install the lifecycle policy (when supported) and the templates; idempotent."""
        self.engine = await self.detect_engine()
        if not self.logs.install_templates:
            return
        self.lifecycle = await self._install_lifecycle() if self.logs.lifecycle.enabled else None
        cfg = self.logs
        await self._put(f"/_component_template/{templates.COMPONENT_SETTINGS}",
                        {"template": {"settings": templates.settings(cfg, lifecycle=self.lifecycle)}})
        await self._put(f"/_component_template/{templates.COMPONENT_MAPPINGS}",
                        {"template": {"mappings": templates.log_mappings()}})
        await self._put(f"/_component_template/{templates.COMPONENT_DEADLETTER}",
                        {"template": {"mappings": templates.deadletter_mappings()}})
        await self._put(f"/_index_template/{templates.template_name(cfg.data_stream)}", templates.index_template(
            cfg.data_stream, [templates.COMPONENT_SETTINGS, templates.COMPONENT_MAPPINGS]))
        await self._put(f"/_index_template/{templates.template_name(cfg.deadletter_data_stream)}", templates.index_template(
            cfg.deadletter_data_stream, [templates.COMPONENT_SETTINGS, templates.COMPONENT_DEADLETTER]))
        for name in sorted(self._streams - {cfg.data_stream}):
            await self._put(f"/_index_template/{templates.template_name(name)}",
                            templates.index_template(name, [templates.COMPONENT_SETTINGS, templates.COMPONENT_MAPPINGS]))
        log.info("data stream templates installed", extra={
            "url.full": self.base, "observe.engine": self.engine, "observe.lifecycle": self.lifecycle or "none",
            "observe.data_stream": cfg.data_stream})

    async def ensure_data_stream(self, name: str) -> None:
        """Install the index template of a data stream chosen by a pod annotation, once, before its first write."""
        if name in self._streams or name == self.logs.data_stream or not self.logs.install_templates:
            return
        self._streams.add(name)
        if not self._setup_done.is_set():
            return  # setup() installs it with the others
        try:
            await self._put(f"/_index_template/{templates.template_name(name)}",
                            templates.index_template(name, [templates.COMPONENT_SETTINGS, templates.COMPONENT_MAPPINGS]))
        except (aiohttp.ClientError, OSError, TimeoutError, HttpError) as exc:
            self._streams.discard(name)  # try again when the next file names it
            log.warning("cannot install the template of an annotated data stream", extra={
                "observe.data_stream": name, "error.message": str(exc)})

    async def _install_lifecycle(self) -> str | None:
        if self.engine == "opensearch":
            path = f"/_plugins/_ism/policies/{templates.POLICY}"
            status, _ = await self.request("GET", path)
            if status == 200:
                return "ism"
            status, raw = await self.request("PUT", path, templates.ism_policy(self.logs))
            if status < 300 or status == 409:
                return "ism"
            what = "ISM"
        else:
            status, raw = await self.request("PUT", f"/_ilm/policy/{templates.POLICY}", templates.ilm_policy(self.logs))
            if status < 300:
                return "ilm"
            what = "ILM"
        if status in (401, 403):
            raise HttpError(status, raw)
        log.warning(f"this server has no {what}; data streams are created without a lifecycle policy (retention is "
                    "up to you)", extra={"url.full": self.base, "http.response.status_code": status,
                                         "error.message": raw[:200].decode(errors="replace")})
        return None

    def ready(self) -> tuple[bool, str]:
        if not self._setup_done.is_set():
            return False, self._state
        if self._failing_since is not None:
            return True, (f"bulk requests failing for {time.monotonic() - self._failing_since:.0f}s (retrying): "
                          f"{self._last_failure}")
        return True, self._state

    async def close(self) -> None:
        if self._setup_task is not None:
            self._setup_task.cancel()
        if self._session is not None:
            await self._session.close()

    # ---- delivery ----------------------------------------------------------------------------
    async def send(self, batch: Batch) -> None:
        await self._setup_done.wait()
        await self.deliver([(item, None) for item in batch.items()])

    async def deliver(self, pending: list[Item]) -> None:
        """Send until every item has a final outcome."""
        delay = self.logs.retry_initial_seconds
        attempt = 0
        while pending:
            attempt += 1
            pending, retry_reason = await self._attempt(pending, attempt)
            if retry_reason is None:
                delay = self.logs.retry_initial_seconds
                continue
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("bulk items failing; retrying them (never given up)",
                            extra={"url.full": self.base, "event.reason": retry_reason, "observe.items": len(pending)})
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.logs.retry_max_seconds)
        if self._failing_since is not None:
            log.info("bulk requests succeed again", extra={"event.duration_s": round(time.monotonic() - self._failing_since, 1)})
            self._failing_since = None

    async def _attempt(self, pending: list[Item], attempt: int) -> tuple[list[Item], str | None]:
        """One bulk request in its own span: (items still pending, retry reason or None when no backoff is needed)."""
        with self._tracer.start_as_current_span("logs.bulk", kind=SpanKind.CLIENT) as span:
            left, reason, status, answers = await self._send(pending)
            if span.is_recording():
                self._annotate(span, pending, attempt, status, answers, reason)
            return left, reason

    async def _send(self, pending: list[Item]) -> tuple[list[Item], str | None, int | None, list[dict[str, Any]] | None]:
        """The request itself: (pending, retry reason, HTTP status or None, per-item answers when parsed)."""
        body = b"".join(item for item, _ in pending)
        t0 = time.monotonic()
        try:
            async with self.session().post(self.base + BULK_PATH, data=body,
                                           headers={"Content-Type": "application/x-ndjson"}) as resp:
                status = resp.status
                raw = await resp.read()
        except TimeoutError as exc:
            trace.get_current_span().record_exception(exc)
            self._last_failure = f"timeout after {self.es.request_timeout_seconds:g}s"
            return *self._retry_all(pending, "timeout"), None, None
        except (aiohttp.ClientError, OSError) as exc:
            trace.get_current_span().record_exception(exc)
            self._last_failure = explain(exc, self.es)[1]
            return *self._retry_all(pending, "connection"), None, None
        finally:
            self.metrics.bulk_duration.observe(time.monotonic() - t0)
        if status == 429:
            self._last_failure = "HTTP 429: the server is overloaded"
            return *self._retry_all(pending, "429"), status, None
        if status >= 500 or status in (401, 403, 408):
            self._last_failure = explain(HttpError(status, raw), self.es)[1]
            if status in (401, 403):
                log.error("the server refuses our credentials; retrying", extra={
                    "http.response.status_code": status, "error.type": "auth", "error.message": self._last_failure})
            why = {401: "auth", 403: "auth", 408: "timeout"}.get(status, "5xx")
            return *self._retry_all(pending, why), status, None
        if status >= 400:
            return await self._request_refused(pending, status, raw), None, status, None
        if raw.startswith(b'{"errors":false'):
            self._count_ok(pending)
            return [], None, status, None
        answers: list[dict[str, Any]] = orjson.loads(raw).get("items", [])
        left, reason = self._per_item(pending, answers)
        if reason is not None:
            self._last_failure = f"items answered {reason}"
        return left, reason, status, answers

    def _annotate(self, span: Span, pending: list[Item], attempt: int, status: int | None,
                  answers: list[dict[str, Any]] | None, reason: str | None) -> None:
        """The bulk span's attributes and status (only when the span records)."""
        outcomes = dict.fromkeys(("delivered", "duplicate", "deadlettered", "retried", "rejected"), 0)
        if status is None or status == 429 or status >= 500 or status in (401, 403, 408):
            outcomes["retried"] = len(pending)
        elif status >= 400:
            outcomes["rejected"] = len(pending)  # bisected: the halves have spans of their own
        elif answers is None or len(answers) != len(pending):
            if answers is None:
                dl = sum(1 for _, r in pending if r is not None)
                outcomes["delivered"], outcomes["deadlettered"] = len(pending) - dl, dl
            else:
                outcomes["retried"] = len(pending)
        else:
            for (_, dl_reason), answer in zip(pending, answers, strict=True):
                code = int(next(iter(answer.values())).get("status", 500))
                if code < 300 or code == 409:
                    key = "deadlettered" if dl_reason is not None else "duplicate" if code == 409 else "delivered"
                elif code == 429 or code >= 500:
                    key = "retried"
                else:
                    key = "rejected"
                outcomes[key] += 1
        span.set_attributes({
            "observe.bulk.items": len(pending),
            "observe.bulk.bytes": sum(len(item) for item, _ in pending),
            "observe.bulk.attempt": attempt,
            "server.address": self.base,
            **{f"observe.bulk.{k}": v for k, v in outcomes.items()},
        })
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if reason is not None or outcomes["rejected"]:
            what = f"HTTP {status}" if status is not None and status >= 400 else (reason or "items rejected")
            span.set_status(Status(StatusCode.ERROR, f"{what}: {outcomes['retried']} items to retry, "
                                                     f"{outcomes['rejected']} rejected"))
            span.set_attribute("error.type", str(status) if status is not None and status >= 400 else reason or "rejected")

    def _retry_all(self, pending: list[Item], reason: str) -> tuple[list[Item], str]:
        self.metrics.events_retried.labels(reason).inc(len(pending))
        return pending, reason

    def _count_ok(self, pending: list[Item]) -> None:
        self.metrics.bulk_items.labels("201").inc(len(pending))
        dl = sum(1 for _, reason in pending if reason is not None)
        self._acked["delivered"].inc(len(pending) - dl)
        if dl:
            self._count_deadlettered([r for _, r in pending if r is not None])

    def _count_deadlettered(self, reasons: list[str | None]) -> None:
        self._acked["deadlettered"].inc(len(reasons))
        for reason in reasons:
            self.metrics.events_deadlettered.labels(reason or "other_4xx").inc()

    def _per_item(self, pending: list[Item], items: list[dict[str, Any]]) -> tuple[list[Item], str | None]:
        if len(items) != len(pending):
            # Should not happen; treat as a failed request rather than guess which item is which.
            log.error("bulk response item count differs from the request; retrying all",
                      extra={"observe.sent": len(pending), "observe.answered": len(items)})
            return self._retry_all(pending, "5xx")
        retry: list[Item] = []
        reason: str | None = None
        for (item, dl_reason), answer in zip(pending, items, strict=True):
            result = next(iter(answer.values()))
            status = int(result.get("status", 500))
            self.metrics.bulk_items.labels(str(status)).inc()
            if status < 300 or status == 409:
                if dl_reason is not None:
                    self._count_deadlettered([dl_reason])
                else:
                    self._acked["duplicate" if status == 409 else "delivered"].inc()
            elif status == 429 or status >= 500:
                reason = "429" if status == 429 else "5xx"
                self.metrics.events_retried.labels(reason).inc()
                retry.append((item, dl_reason))
            else:
                error = result.get("error") or {}
                retry.append(self._deadletter(item, dl_reason, status, str(error.get("type", "")),
                                              str(error.get("reason", ""))))
        retry = [r for r in retry if r[0]]
        return retry, reason

    async def _request_refused(self, pending: list[Item], status: int, raw: bytes) -> list[Item]:
        """A whole request refused with a 4xx: bisect until the culprit is alone, then dead-letter it."""
        if len(pending) > 1:
            half = len(pending) // 2
            await self.deliver(pending[:half])
            await self.deliver(pending[half:])
            return []
        item, dl_reason = pending[0]
        self.metrics.bulk_items.labels(str(status)).inc()
        try:
            error = orjson.loads(raw).get("error", {})
            etype = error.get("type", "") if isinstance(error, dict) else str(error)
            ereason = error.get("reason", "") if isinstance(error, dict) else ""
        except (orjson.JSONDecodeError, AttributeError):
            etype, ereason = f"http_{status}", raw[:500].decode(errors="replace")
        out = self._deadletter(item, dl_reason, status, etype, ereason)
        return [out] if out[0] else []

    def _deadletter(self, item: bytes, dl_reason: str | None, status: int, etype: str, ereason: str) -> Item:
        """The dead-letter item for a rejected one; (b"", None) when a dead-letter write itself was rejected."""
        if dl_reason is not None:
            self.metrics.events_dropped.labels("deadletter_rejected", "false").inc()
            log.error("the dead-letter stream rejected an event; it is dropped",
                      extra={"http.response.status_code": status, "error.type": etype, "error.message": ereason})
            return b"", None
        reason = "mapping" if etype in MAPPING_ERRORS or "mapper" in etype or "parsing" in etype else "other_4xx"
        newline = item.index(b"\n")
        action = orjson.loads(item[:newline])
        meta = next(iter(action.values()))
        source = source_of(item)
        doc: dict[str, Any] = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "message": f"{etype}: {ereason}",
            "event": {"original": source.decode(errors="replace")},
            "error": {"type": etype, "message": ereason},
            "observe": {"deadletter": {"data_stream": meta.get("_index", ""), "status": status, "reason": reason}},
        }
        try:
            original = orjson.loads(source)
            logpart = original.get("log", {})
            doc["log"] = {"offset": logpart.get("offset"), "file": {"path": logpart.get("file", {}).get("path")}}
        except (orjson.JSONDecodeError, AttributeError):
            pass
        new_action = {"create": {"_index": self.logs.deadletter_data_stream, "_id": meta.get("_id")}}
        return orjson.dumps(new_action) + b"\n" + orjson.dumps(doc) + b"\n", reason
