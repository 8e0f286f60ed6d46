"""The probes themselves: HTTP(S) and TCP(+TLS) with blackbox_exporter's phases and metric names.

HTTP is spoken directly over asyncio streams (HTTP/1.1, Connection: close) so each phase is timed on its own:
resolve, connect, tls, processing (request sent -> first response byte) and transfer (the body), and so every
redirect hop passes the allowlist again before we connect.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from exporters.config import ProbeModuleConfig
from exporters.probe.allowlist import BadTarget, TargetPolicy, canonical_host
from observe.exposition import header, labels, sample

MAX_REDIRECTS = 10
# Probes measure, they do not download: a response past these bounds fails the probe with its reason, and memory
# stays bounded whatever the target sends (a 2 GiB chunk, a million headers).
MAX_BODY = 10 * 2**20
MAX_LINE = 16 * 1024  # status line, one header line, one chunk-size line (the stream reader's limit)
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
READ_PIECE = 64 * 1024


class Refused(Exception):
    """The target (or a redirect) is outside the allowlist."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProbeLimit(OSError):
    """The response broke one of the bounds above; `reason` names which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Result:
    """What one probe measured."""

    success: bool = False
    duration: float = 0.0
    status_code: int = 0
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("resolve", "connect", "tls", "processing", "transfer"), 0.0))
    cert_expiry: float | None = None
    ssl: bool = False
    redirects: int = 0
    content_length: int = 0
    error: str = ""
    reason: str = ""  # why a probe failed: timeout, connect, tls, http or the limit it broke

    def exposition(self, http: bool) -> bytes:
        """The probe's metrics in Prometheus text format, blackbox_exporter's names."""
        out: list[str] = []

        def gauge(name: str, help_text: str, *samples: tuple[str, str]) -> None:
            out.append(header(name, "gauge", help_text))
            out.extend(sample(name, label_text, value) for label_text, value in samples)

        gauge("probe_success", "Displays whether or not the probe was a success", ("", "1" if self.success else "0"))
        gauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds",
              ("", f"{self.duration:.6f}"))
        gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds",
              ("", f"{self.phases['resolve']:.6f}"))
        if http:
            gauge("probe_http_status_code", "Response HTTP status code", ("", str(self.status_code)))
            gauge("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects",
                  *((labels((("phase", p),)), f"{v:.6f}") for p, v in self.phases.items()))
            gauge("probe_http_redirects", "The number of redirects", ("", str(self.redirects)))
            gauge("probe_http_ssl", "Indicates if SSL was used for the final redirect", ("", "1" if self.ssl else "0"))
            gauge("probe_http_content_length", "Length of http content response", ("", str(self.content_length)))
        if self.cert_expiry is not None:
            gauge("probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime",
                  ("", f"{self.cert_expiry:.0f}"))
        return "".join(out).encode()


_CONTEXTS: dict[tuple[str | None, bool], ssl.SSLContext] = {}


def _build_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def ssl_context(module: ProbeModuleConfig) -> ssl.SSLContext:
    """Verified by default; a module may name its own CA or switch verification off. Built once, off the loop
    (loading the system CA store takes a fifth of a second)."""
    key = (str(module.ca_file) if module.ca_file else None, module.verify_certs)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = await asyncio.to_thread(_build_context, *key)
    return _CONTEXTS[key]


def _cert_expiry(writer: asyncio.StreamWriter) -> float | None:
    sslobj = writer.get_extra_info("ssl_object")
    if sslobj is None:
        return None
    cert = sslobj.getpeercert()
    if cert and "notAfter" in cert:
        return float(ssl.cert_time_to_seconds(str(cert["notAfter"])))
    der = sslobj.getpeercert(binary_form=True)
    if not der:
        return None
    try:  # unverified connections only expose DER; decode it when cryptography is there
        from cryptography import x509
    except ImportError:
        return None
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return not_after.replace(tzinfo=UTC).timestamp() if not_after.tzinfo is None else not_after.timestamp()


async def _resolve(host: str, port: int) -> str:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"no address for {host}")
    return str(infos[0][4][0])


async def _open(host: str, port: int, tls: ssl.SSLContext | None, policy: TargetPolicy, result: Result,
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Check the name, the port and then the address actually connected to: every target, hop and module."""
    try:
        name = canonical_host(host)
    except BadTarget:
        raise Refused("bad_target") from None
    allowed, by = await policy.allows(name)
    if not allowed:
        raise Refused(by)
    if not policy.port_allowed(port):
        raise Refused("port_not_allowed")
    t0 = time.monotonic()
    address = await _resolve(name, port)
    t1 = time.monotonic()
    result.phases["resolve"] += t1 - t0
    # DNS decides where an allowed name goes (an ExternalName Service is a CNAME): check where it went.
    if not policy.connect_allowed(address, by):
        raise Refused("not_allowlisted")
    reader, writer = await asyncio.open_connection(address, port, limit=MAX_LINE)
    peer = writer.get_extra_info("peername")
    if not peer or not policy.connect_allowed(str(peer[0]), by):
        writer.close()
        raise Refused("not_allowlisted")
    t2 = time.monotonic()
    result.phases["connect"] += t2 - t1
    if tls is not None:
        await writer.start_tls(tls, server_hostname=name)
        result.phases["tls"] += time.monotonic() - t2
        result.cert_expiry = _cert_expiry(writer)
    return reader, writer


async def _line(reader: asyncio.StreamReader) -> bytes:
    """One line, at most MAX_LINE bytes."""
    try:
        return await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError surfaces as ValueError from readline()
        raise ProbeLimit("line_too_long", f"a response line over {MAX_LINE} bytes") from None


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    """Header lines until the blank one, bounded in count and bytes (each line by the reader's limit)."""
    headers: dict[str, str] = {}
    count = size = 0
    while True:
        raw = await _line(reader)
        if raw in (b"\r\n", b"\n", b""):
            return headers
        count += 1
        size += len(raw)
        if count > MAX_HEADERS:
            raise ProbeLimit("too_many_headers", f"more than {MAX_HEADERS} response headers")
        if size > MAX_HEADER_BYTES:
            raise ProbeLimit("headers_too_large", f"response headers over {MAX_HEADER_BYTES} bytes")
        k, _, v = raw.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()


async def _discard(reader: asyncio.StreamReader, n: int) -> None:
    """Read and drop n bytes, one bounded piece at a time (readexactly(n) would buffer n bytes)."""
    while n > 0:
        piece = await reader.read(min(n, READ_PIECE))
        if not piece:
            raise asyncio.IncompleteReadError(b"", n)
        n -= len(piece)


def _over(total: int) -> ProbeLimit:
    return ProbeLimit("body_too_large", f"response body over {MAX_BODY} bytes (at least {total})")


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    """The body's length, read and dropped with the cap enforced before every read."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        total = 0
        while True:
            field = (await _line(reader)).split(b";", 1)[0].strip()
            if len(field) > 16 or not field:
                raise ProbeLimit("bad_chunk", f"chunk size line {field[:40]!r} is not a hex number")
            size = int(field, 16)
            if size == 0:
                await _read_headers(reader)  # trailers, bounded like headers
                return total
            total += size
            if total > MAX_BODY:
                raise _over(total)
            await _discard(reader, size + 2)
    if "content-length" in headers:
        n = int(headers["content-length"])
        if n > MAX_BODY:
            raise _over(n)
        await _discard(reader, n)
        return n
    total = 0
    while True:
        chunk = await reader.read(READ_PIECE)
        if not chunk:
            return total
        total += len(chunk)
        if total > MAX_BODY:
            raise _over(total)


def _request_target(parts: SplitResult) -> str:
    """Path and query, percent-encoded where the URL left spaces or non-ASCII (existing escapes are kept)."""
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~") if parts.query else ""
    return path + (f"?{query}" if query else "")


def _host_header(host: str, port: int | None) -> str:
    name = canonical_host(host)
    if ":" in name:
        name = f"[{name}]"
    return f"{name}:{port}" if port else name


async def probe_http(url: str, module: ProbeModuleConfig, policy: TargetPolicy, result: Result) -> None:
    """Follow the URL (and allowed redirects) and judge the final status code."""
    ctx = await ssl_context(module)
    for hop in range(MAX_REDIRECTS + 1):
        try:
            parts = urlsplit(url)
            explicit_port = parts.port
        except ValueError:  # an unclosed [ or a port that is not a number
            raise Refused("bad_target") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused("bad_target")
        https = parts.scheme == "https"
        port = explicit_port or (443 if https else 80)
        reader, writer = await _open(parts.hostname, port, ctx if https else None, policy, result)
        try:
            t0 = time.monotonic()
            writer.write(f"{module.method} {_request_target(parts)} HTTP/1.1\r\n"
                         f"Host: {_host_header(parts.hostname, explicit_port)}\r\nUser-Agent: observe-probe\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii"))
            await writer.drain()
            status_line = await _line(reader)
            t1 = time.monotonic()
            result.phases["processing"] += t1 - t0
            fields = status_line.decode("latin-1").split(" ", 2)
            if len(fields) < 2 or not fields[0].startswith("HTTP/"):
                raise OSError(f"not an HTTP response: {status_line[:80]!r}")
            status = int(fields[1])
            headers = await _read_headers(reader)
            result.content_length = await _read_body(reader, headers) if module.method != "HEAD" else 0
            result.phases["transfer"] += time.monotonic() - t1
        finally:
            writer.close()
        result.status_code = status
        result.ssl = https
        if module.follow_redirects and status in (301, 302, 303, 307, 308) and "location" in headers:
            url = urljoin(url, headers["location"])
            result.redirects = hop + 1
            continue
        break
    ok = status in module.valid_status_codes if module.valid_status_codes else 200 <= status < 300
    if module.fail_if_not_ssl and not result.ssl:
        ok = False
    result.success = ok


async def probe_tcp(target: str, module: ProbeModuleConfig, policy: TargetPolicy, result: Result) -> None:
    """Connect (and handshake when the module asks for TLS)."""
    try:
        parts = urlsplit("//" + target)
        port = parts.port
    except ValueError:
        raise Refused("bad_target") from None
    if not parts.hostname or not port:
        raise Refused("bad_target")
    tls = await ssl_context(module) if module.tls else None
    _, writer = await _open(parts.hostname, port, tls, policy, result)
    writer.close()
    result.success = True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ProbeLimit):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(exc, ConnectionError | socket.gaierror) or (isinstance(exc, OSError) and exc.errno is not None):
        return "connect"
    return "http"


async def run(target: str, module: ProbeModuleConfig, policy: TargetPolicy, seconds: float) -> Result:
    """One probe bounded by `seconds`; failures become probe_success 0, refusals raise Refused."""
    result = Result()
    start = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            if module.prober == "tcp":
                await probe_tcp(target, module, policy, result)
            else:
                url = target if "://" in target else f"http://{target}"
                await probe_http(url, module, policy, result)
    except Refused:
        raise
    except (TimeoutError, OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError, UnicodeError) as exc:
        result.success = False
        result.error = f"{type(exc).__name__}: {exc}"
        result.reason = _reason(exc)
    result.duration = time.monotonic() - start
    return result
