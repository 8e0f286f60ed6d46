"""Kubernetes credentials without kubernetes_asyncio for the common cases: the in-cluster service account, and
kubeconfig users with a token, a token file or a client certificate.

kubernetes_asyncio imports its whole generated client (every API and model class) to read a kubeconfig: about
40 MiB of resident memory and 0.7 s of start-up in every process, which was a quarter of the cluster exporter's RSS.
Exec plugins and auth providers still go through it (loaded only then, see observe/kube/client.py).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Projected service-account tokens rotate; client-go re-reads the file about once a minute.
TOKEN_REREAD_SECONDS = 60.0


class CredentialsError(Exception):
    """The kubeconfig or the service account cannot be used; the message says why."""


class NeedsLibrary(Exception):
    """The kubeconfig user authenticates in a way only kubernetes_asyncio implements (exec plugin, auth provider)."""


@dataclass
class Credentials:
    """Where the API server is, how to verify it, and how to authenticate to it."""

    host: str
    ca_file: str | None = None
    ca_data: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: Path | None = None
    basic: str | None = None
    _read_at: float | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context for https servers (False for plain http or insecure-skip-tls-verify)."""
        if not self.host.startswith("https") or not self.verify:
            return False
        ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    async def authorization(self) -> str | None:
        """The Authorization header value, re-reading a token file as it rotates."""
        stale = self._read_at is None or time.monotonic() - self._read_at > TOKEN_REREAD_SECONDS
        if self.token_file is not None and stale:
            try:
                self.token = (await asyncio.to_thread(self.token_file.read_text)).strip()
                self._read_at = time.monotonic()
            except OSError:
                pass  # keep the last token; the API server's 401 will say if it is no longer valid
        if self.token:
            return f"Bearer {self.token}"
        if self.basic:
            return f"Basic {self.basic}"
        return None


def in_cluster(env: Mapping[str, str] = os.environ, account: Path = SERVICE_ACCOUNT) -> Credentials:
    """The pod's service account: API address from the environment, token and CA from the mounted secret."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise CredentialsError("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
    token, ca = account / "token", account / "ca.crt"
    for path in (token, ca):
        if not path.is_file():
            raise CredentialsError(f"{path} does not exist")
    creds = Credentials(f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
                        ca_file=str(ca), token_file=token)
    creds.token = token.read_text().strip()
    if not creds.token:
        raise CredentialsError(f"{token} is empty")
    creds._read_at = time.monotonic()
    return creds


def _named(doc: Mapping[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in doc.get(section) or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1])
            return body if isinstance(body, dict) else {}
    raise CredentialsError(f"{section}: no entry named {name!r}")


def _data(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialsError(f"{what} is not valid base64") from None


def _private_file(data: bytes, suffix: str) -> str:
    """Certificates and keys given inline are handed to OpenSSL through a private temporary file."""
    fd, name = tempfile.mkstemp(prefix="observe-kube-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    atexit.register(lambda: Path(name).unlink(missing_ok=True))
    return name


def from_kubeconfig(path: Path, context: str | None = None) -> Credentials:
    """The current (or named) context of a kubeconfig; relative file paths are relative to the kubeconfig."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CredentialsError(str(exc)) from None
    except UnicodeDecodeError:
        raise CredentialsError("not a kubeconfig: not UTF-8 text (a kubeconfig is YAML)") from None
    except RecursionError:
        raise CredentialsError("not a kubeconfig: nested too deeply") from None
    if not isinstance(doc, dict):
        raise CredentialsError("not a kubeconfig (expected a mapping)")
    name = context or doc.get("current-context")
    if not name:
        raise CredentialsError("current-context is not set")
    ctx = _named(doc, "contexts", str(name))
    cluster = _named(doc, "clusters", str(ctx.get("cluster")))
    user = _named(doc, "users", str(ctx.get("user"))) if ctx.get("user") else {}
    if user.get("exec") or user.get("auth-provider"):
        raise NeedsLibrary()
    if not cluster.get("server"):
        raise CredentialsError(f"cluster {ctx.get('cluster')!r} has no server")

    def local(value: Any) -> str:
        return str((path.parent / str(value)).resolve())

    creds = Credentials(str(cluster["server"]).rstrip("/"),
                        verify=not cluster.get("insecure-skip-tls-verify", False))
    if cluster.get("certificate-authority-data"):
        creds.ca_data = _data(cluster["certificate-authority-data"], "certificate-authority-data").decode()
    elif cluster.get("certificate-authority"):
        creds.ca_file = local(cluster["certificate-authority"])
    if user.get("client-certificate-data"):
        creds.cert_file = _private_file(_data(user["client-certificate-data"], "client-certificate-data"), ".crt")
    elif user.get("client-certificate"):
        creds.cert_file = local(user["client-certificate"])
    if user.get("client-key-data"):
        creds.key_file = _private_file(_data(user["client-key-data"], "client-key-data"), ".key")
    elif user.get("client-key"):
        creds.key_file = local(user["client-key"])
    if user.get("token"):
        creds.token = str(user["token"])
    elif user.get("tokenFile"):
        creds.token_file = Path(local(user["tokenFile"]))
    elif user.get("username") and user.get("password"):
        creds.basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
    return creds
