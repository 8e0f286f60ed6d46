"""A small async Kubernetes API client: credentials from kubeconfig or the pod's service account, JSON over aiohttp.

Credentials come from observe/kube/credentials.py (in-cluster service account with token rotation; kubeconfig users
with a token, token file, client certificate or basic auth). Only exec plugins and auth providers load
kubernetes_asyncio, which imports its whole generated client. Requests and watch streams go through aiohttp with
orjson, because the generated client builds a model object per item, which costs more than the metrics need (see
observe/kube/reflector.py).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson

from observe.config import KubeConfig
from observe.kube.credentials import SERVICE_ACCOUNT, CredentialsError, NeedsLibrary, from_kubeconfig, in_cluster
from observe.service_errors import StartError

IN_CLUSTER_TOKEN = SERVICE_ACCOUNT / "token"


class KubeApiError(Exception):
    """The API server answered with an error status (the body is the Kubernetes Status)."""

    def __init__(self, status: int, message: str, path: str) -> None:
        super().__init__(f"{path}: HTTP {status}: {message}")
        self.status = status
        self.path = path


class KubeConfigError(StartError):
    """No usable credentials: the message says where we looked."""


class Auth(Protocol):
    """What the client needs from credentials."""

    host: str

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context for the API server (False: plain http or verification switched off)."""

    async def authorization(self) -> str | None:
        """The Authorization header value, or None."""


class LibraryCredentials:
    """Credentials loaded by kubernetes_asyncio (exec plugins, auth providers)."""

    def __init__(self, configuration: Any) -> None:
        self.cfg = configuration
        self.host = str(configuration.host).rstrip("/")

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context the kubeconfig asks for."""
        if not self.host.startswith("https") or not self.cfg.verify_ssl:
            return False
        ctx = ssl.create_default_context(cafile=self.cfg.ssl_ca_cert or None)
        if self.cfg.cert_file:
            ctx.load_cert_chain(self.cfg.cert_file, self.cfg.key_file or None)
        return ctx

    async def authorization(self) -> str | None:
        """The bearer token, refreshed by the library's hooks."""
        token = await self.cfg.get_api_key_with_prefix("BearerToken")
        if not token:
            return None
        return str(token) if str(token).startswith("Bearer ") else f"Bearer {token}"


class KubeClient:
    """An authenticated HTTP session to one API server; TLS is always verified unless the kubeconfig says otherwise."""

    def __init__(self, credentials: Auth, reload: Any = None) -> None:
        self._cfg = credentials
        self._reload = reload
        self.host: str = str(credentials.host).rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool | None = None

    @classmethod
    async def from_config(cls, config: KubeConfig) -> KubeClient:
        """Credentials from config.kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account."""
        cfg = await load_configuration(config.kubeconfig)

        async def reload() -> Auth:
            return await load_configuration(config.kubeconfig)

        client = cls(cfg, reload)
        # Loading CA bundles takes ~0.2 s of CPU: off the event loop.
        client._ssl = await asyncio.to_thread(client._ssl_context)
        return client

    def _ssl_context(self) -> ssl.SSLContext | bool:
        return self._cfg.ssl_context()

    def session(self) -> aiohttp.ClientSession:
        """The shared aiohttp session (created on first use, inside the running loop)."""
        if self._session is None or self._session.closed:
            if self._ssl is None:
                self._ssl = self._ssl_context()
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=32)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(),
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None),
            )
        return self._session

    async def headers(self) -> dict[str, str]:
        """Accept JSON, plus the bearer token (re-read when the service-account token rotates)."""
        out = {"Accept": "application/json"}
        authorization = await self._cfg.authorization()
        if authorization:
            out["Authorization"] = authorization
        return out

    async def refresh_credentials(self) -> None:
        """Reload credentials after a 401 (an exec plugin's token may have expired)."""
        if self._reload is not None:
            self._cfg = await self._reload()
            self._ssl = await asyncio.to_thread(self._ssl_context)
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, seconds: float = 30.0, content_type: str | None = None) -> Any:
        """One call; returns the decoded JSON body or raises KubeApiError."""
        headers = await self.headers()
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type or (
                "application/merge-patch+json" if method == "PATCH" else "application/json")
        async with self.session().request(method, self.host + path, params=params, data=data, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise KubeApiError(resp.status, _status_message(raw), path)
            return orjson.loads(raw) if raw else None

    async def get_bytes(self, path: str, *, params: Mapping[str, str] | None = None, seconds: float = 60.0,
                        accept: str | None = None) -> bytes:
        """GET returning the raw body, so large lists can be decoded off the hot path.

        `accept` replaces the JSON Accept header (the reflector asks for protobuf, with JSON as the fallback)."""
        headers = await self.headers()
        if accept:
            headers["Accept"] = accept
        async with self.session().get(self.host + path, params=params, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise KubeApiError(resp.status, _status_message(raw), path)
            return raw

    async def stream_lines(self, path: str, *, params: Mapping[str, str], read_timeout: float,
                           opened: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        """A watch stream, one JSON document per yielded line; any line length (aiohttp's readline caps at 128 KiB).

        `opened` is called once the server accepted the watch (before any event arrives)."""
        headers = await self.headers()
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=read_timeout)
        async with self.session().get(self.host + path, params=params, headers=headers, timeout=timeout) as resp:
            if resp.status >= 400:
                raise KubeApiError(resp.status, _status_message(await resp.read()), path)
            if opened is not None:
                opened()
            buf = b""
            async for chunk in resp.content.iter_any():
                buf = buf + chunk if buf else chunk
                if b"\n" not in chunk:
                    continue
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line:
                        yield line
            if buf.strip():
                yield buf

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _status_message(raw: bytes) -> str:
    if raw.startswith(b"k8s\x00"):  # a Status in protobuf (the answer to a protobuf request)
        from observe.kube import protobuf

        return protobuf.status_message(raw)[:500] or "(a protobuf error without a message)"
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:500].decode(errors="replace")
    if isinstance(doc, dict):
        return str(doc.get("message") or doc.get("reason") or doc)[:500]
    return str(doc)[:500]


def credential_source(kubeconfig: Path | None) -> Path | None:
    """Which kubeconfig to load, or None for the in-cluster service account; raises naming everything it tried.

    The order is kubectl's: the flag (kube.kubeconfig), $KUBECONFIG, ~/.kube/config, then the in-cluster account.
    """
    if kubeconfig is not None:
        if not kubeconfig.exists():
            raise KubeConfigError(f"--kubeconfig / kube.kubeconfig: {kubeconfig} does not exist; expected a kubeconfig file")
        return kubeconfig
    tried = ["--kubeconfig / kube.kubeconfig: not set"]
    env = [Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    for path in env:
        if path.exists():
            return path
        tried.append(f"$KUBECONFIG: {path} does not exist")
    if not env:
        tried.append("$KUBECONFIG: not set")
    home = Path("~/.kube/config").expanduser()
    if home.exists():
        return home
    tried.append(f"~/.kube/config: {home} does not exist")
    if os.environ.get("KUBERNETES_SERVICE_HOST") and IN_CLUSTER_TOKEN.exists():
        return None
    tried.append("in-cluster service account: " + (f"{IN_CLUSTER_TOKEN} does not exist"
                                                   if os.environ.get("KUBERNETES_SERVICE_HOST")
                                                   else "KUBERNETES_SERVICE_HOST is not set (not in a pod)"))
    raise KubeConfigError("no Kubernetes credentials; tried, in order: " + "; ".join(tried)
                          + ". Pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account")


async def load_configuration(kubeconfig: Path | None) -> Auth:
    """Resolve credentials: explicit kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster (in that order)."""
    path = credential_source(kubeconfig)
    if path is None:
        try:
            return await asyncio.to_thread(in_cluster)  # file reads: off the event loop
        except (CredentialsError, OSError) as exc:
            raise KubeConfigError(f"in-cluster service account is not usable: {exc}") from None
    where = "--kubeconfig / kube.kubeconfig: " if kubeconfig is not None else "kubeconfig "
    try:
        return await asyncio.to_thread(from_kubeconfig, path)
    except NeedsLibrary:
        return await _library_configuration(path, where)
    except (CredentialsError, OSError) as exc:
        raise KubeConfigError(f"{where}{path} is not usable: {exc}") from None


async def _library_configuration(path: Path, where: str) -> Auth:
    # Exec plugins and auth providers: kubernetes_asyncio implements them; imported only here (about 40 MiB), and
    # in a thread, since the import takes about a second.
    await asyncio.to_thread(importlib.import_module, "kubernetes_asyncio.config")
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import ConfigException, load_kube_config

    cfg = Configuration()
    try:
        await load_kube_config(config_file=str(path), client_configuration=cfg, persist_config=False)
    except (ConfigException, KeyError, ValueError, TypeError) as exc:
        raise KubeConfigError(f"{where}{path} is not usable: {exc}") from None
    return LibraryCredentials(cfg)
