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
from urllib.parse import urljoin, urlsplit

from exporters.config import ProbeModuleConfig
from exporters.probe.allowlist import TargetPolicy
from observe.exposition import header, labels, sample

MAX_REDIRECTS = 10
MAX_BODY = 10 * 2**20  # read at most this much of a body; probes measure, they do not download


class Refused(Exception):
    """The target (or a redirect) is outside the allowlist."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
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


async def _resolve(host: str, port: int, policy: TargetPolicy, by: str) -> str:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"no address for {host}")
    address = str(infos[0][4][0])
    # A name allowed only because it resolved into an allowed network must still point there now.
    if by == "cidr" and not policy.address_allowed(address):
        raise Refused("not_allowlisted")
    return address


async def _open(host: str, port: int, tls: ssl.SSLContext | None, policy: TargetPolicy, result: Result,
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    allowed, by = await policy.allows(host)
    if not allowed:
        raise Refused(by)
    t0 = time.monotonic()
    address = await _resolve(host, port, policy, by)
    t1 = time.monotonic()
    result.phases["resolve"] += t1 - t0
    reader, writer = await asyncio.open_connection(address, port)
    t2 = time.monotonic()
    result.phases["connect"] += t2 - t1
    if tls is not None:
        await writer.start_tls(tls, server_hostname=host.strip("[]"))
        result.phases["tls"] += time.monotonic() - t2
        result.cert_expiry = _cert_expiry(writer)
    return reader, writer


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        total = 0
        while total < MAX_BODY:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            await reader.readexactly(size + 2)
            total += size
        return total
    if "content-length" in headers:
        n = int(headers["content-length"])
        await reader.readexactly(min(n, MAX_BODY))
        return n
    total = 0
    while total < MAX_BODY:
        chunk = await reader.read(65536)
        if not chunk:
            break
        total += len(chunk)
    return total


async def probe_http(url: str, module: ProbeModuleConfig, policy: TargetPolicy, result: Result) -> None:
    """Follow the URL (and allowed redirects) and judge the final status code."""
    ctx = await ssl_context(module)
    for hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused("bad_target")
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        reader, writer = await _open(parts.hostname, port, ctx if https else None, policy, result)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host_header = parts.netloc.rsplit("@", 1)[-1]
            t0 = time.monotonic()
            writer.write(f"{module.method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: observe-probe\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
            t1 = time.monotonic()
            result.phases["processing"] += t1 - t0
            fields = status_line.decode("latin-1").split(" ", 2)
            if len(fields) < 2 or not fields[0].startswith("HTTP/"):
                raise OSError(f"not an HTTP response: {status_line[:80]!r}")
            status = int(fields[1])
            headers: dict[str, str] = {}
            while True:
                raw = await reader.readline()
                if raw in (b"\r\n", b"\n", b""):
                    break
                k, _, v = raw.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
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
    parts = urlsplit("//" + target)
    if not parts.hostname or not parts.port:
        raise Refused("bad_target")
    tls = await ssl_context(module) if module.tls else None
    _, writer = await _open(parts.hostname, parts.port, tls, policy, result)
    writer.close()
    result.success = True


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
    except (TimeoutError, OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError) as exc:
        result.success = False
        result.error = f"{type(exc).__name__}: {exc}"
    result.duration = time.monotonic() - start
    return result
