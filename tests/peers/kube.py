"""etcd + kube-apiserver built from the Go module proxy: a real API server with no controllers.

Nothing reconciles here, so tests play the controllers themselves: create Pods with
spec.nodeName set, patch their status subresource, delete with grace period 0.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers import gobuild
from tests.peers.base import Peer, PeerError, free_port, start_process, wait_ready

VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
INSTALL_ORDER = 30

APISERVER_PKG = "k8s.io/kubernetes/cmd/kube-apiserver"
# The node peer's binaries come from the same module and version: built in the same `go build` as
# kube-apiserver they share its compile work (one invocation ~800 s cold vs ~1300 s one by one).
NODE_PKGS = tuple(f"k8s.io/kubernetes/cmd/{b}" for b in
                  ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl"))
ETCD_MODULE = "go.etcd.io/etcd/server/v3"


def staging_replaces(version: str) -> dict[str, str]:
    """The staging replaces for k8s.io/kubernetes@version, read from its downloaded go.mod."""
    info = gobuild.download("k8s.io/kubernetes", version)
    return staging_replaces_from(Path(info["GoMod"]).read_text(), version)


def staging_replaces_from(gomod_text: str, version: str) -> dict[str, str]:
    """One replace per staging module: k8s.io/kubernetes v1.Y.Z requires them at v0.0.0, published as v0.Y.Z."""
    published = "v0." + version.removeprefix("v1.")
    reqs = gobuild.requirements(gomod_text)
    staged = {m: f"{m}@{published}" for m, v in reqs.items() if m.startswith("k8s.io/") and v == "v0.0.0"}
    if not staged:
        raise PeerError(f"k8s.io/kubernetes@{version}: its go.mod lists no k8s.io/* module at v0.0.0, "
                        "so the staging-replace recipe no longer fits this version")
    return staged


def etcd_binary() -> Path:
    """The etcd server binary, built once per version."""
    return gobuild.build("etcd", ETCD_VERSION, ETCD_MODULE, module=ETCD_MODULE, binary="etcd")


def apiserver_binary() -> Path:
    """The kube-apiserver binary, built once per version, reporting its real version."""
    major, minor = version_parts(VERSION)
    ldflags = [f"-X k8s.io/component-base/version.{k}={v}" for k, v in
               (("gitVersion", VERSION), ("gitMajor", major), ("gitMinor", minor), ("gitTreeState", "clean"))]
    return gobuild.build("kubernetes", VERSION, APISERVER_PKG, module="k8s.io/kubernetes",
                         replaces=staging_replaces(VERSION), ldflags=ldflags, also=NODE_PKGS)


def kube_binary(name: str) -> Path:
    """One of the Kubernetes binaries built with kube-apiserver (kubelet, kubectl, ...)."""
    path = apiserver_binary().parent / name
    if not path.is_file():
        raise PeerError(f"{path} is missing; remove {path.parent.parent} to rebuild the Kubernetes binaries")
    return path


def version_parts(version: str) -> tuple[str, str]:
    """("1", "37") from "v1.37.2"."""
    major, minor, *_ = version.removeprefix("v").split(".")
    return major, minor


def install() -> None:
    """Build etcd and kube-apiserver (idempotent: seconds when cached)."""
    etcd_binary()
    apiserver_binary()


def start_etcd(workdir: Path) -> Peer:
    """One etcd member on loopback, without fsync (test data is disposable)."""
    client, peer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    argv: list[str | Path] = [
        etcd_binary(), "--name=observe", f"--data-dir={workdir / 'etcd-data'}",
        f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=observe={peer_url}", "--unsafe-no-fsync", "--log-level=warn",
    ]
    peer = start_process("etcd", argv, workdir)
    peer.url = url
    peer.ports = {"client": client, "peer": peer_port}
    return wait_ready(peer, lambda: _etcd_healthy(url), timeout=60)


def _etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return bool(json.loads(r.read()).get("health") == "true")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _service_account_key(path: Path) -> None:
    if path.exists():
        return
    openssl = shutil.which("openssl")
    if not openssl:
        raise PeerError("`openssl` is not on PATH; kube-apiserver needs an RSA key for service-account tokens")
    out = subprocess.run([openssl, "genrsa", "-out", str(path), "2048"], capture_output=True, text=True)
    if out.returncode != 0:
        raise PeerError(f"openssl genrsa failed: {out.stderr.strip()}")


def start(workdir: Path) -> Peer:
    """etcd plus kube-apiserver on loopback; the returned Peer is the API server (etcd rides in extra)."""
    install()
    workdir.mkdir(parents=True, exist_ok=True)
    etcd = start_etcd(workdir / "etcd")
    try:
        return _start_apiserver(workdir, etcd)
    except BaseException:
        etcd.stop()
        raise


def _start_apiserver(workdir: Path, etcd: Peer) -> Peer:
    port = free_port()
    token = secrets.token_hex(16)
    tokens = workdir / "tokens.csv"
    tokens.write_text(f'{token},observe-admin,observe-admin,"system:masters"\n')
    tokens.chmod(0o600)
    sa_key = workdir / "sa.key"
    _service_account_key(sa_key)
    cert_dir = workdir / "certs"
    argv: list[str | Path] = [
        apiserver_binary(), f"--etcd-servers={etcd.url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={cert_dir}", f"--token-auth-file={tokens}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
        "--authorization-mode=RBAC", "--service-cluster-ip-range=10.0.0.0/24",
        "--disable-admission-plugins=ServiceAccount", "--profiling=false",
        # No kubernetes Service endpoints: the reconciler refuses a loopback advertise address.
        "--endpoint-reconciler-type=none",
    ]
    peer = start_process("kube-apiserver", argv, workdir)
    peer.url = f"https://127.0.0.1:{port}"
    peer.ports = {"https": port}
    # The self-signed bundle (server cert + its CA) is written before the port opens.
    ca_file = cert_dir / "apiserver.crt"
    peer.extra = {"token": token, "ca_file": str(ca_file), "etcd": etcd}
    wait_ready(peer, lambda: ca_file.exists() and _readyz(peer), timeout=180)
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "observe",
        "clusters": [{"name": "observe", "cluster": {"server": peer.url, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "observe-admin", "user": {"token": token}}],
        "contexts": [{"name": "observe", "context": {"cluster": "observe", "user": "observe-admin"}}],
    }, indent=2))
    kubeconfig.chmod(0o600)
    peer.extra["kubeconfig"] = str(kubeconfig)
    return peer


def stop(peer: Peer) -> None:
    """Stop the API server, then its etcd."""
    peer.stop()
    etcd = peer.extra.get("etcd")
    if isinstance(etcd, Peer):
        etcd.stop()


def _ssl_context(peer: Peer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(peer.extra["ca_file"]))


def _readyz(peer: Peer) -> bool:
    req = urllib.request.Request(f"{peer.url}/readyz", headers={"Authorization": f"Bearer {peer.extra['token']}"})
    try:
        with urllib.request.urlopen(req, timeout=3, context=_ssl_context(peer)) as r:
            return bool(r.status == 200 and r.read().strip() == b"ok")
    except (urllib.error.URLError, OSError, ValueError):
        return False


class KubeError(PeerError):
    """The API server answered with an error status."""

    def __init__(self, status: int, body: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:2000]}")
        self.status = status


def _request(peer: Peer, method: str, path: str, body: dict[str, Any] | list[Any] | None,
             content_type: str | None) -> urllib.request.Request:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {peer.extra['token']}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = content_type or (
            "application/merge-patch+json" if method == "PATCH" else "application/json")
    return urllib.request.Request(f"{peer.url}{path}", data=data, method=method, headers=headers)


def kube_request(peer: Peer, method: str, path: str, body: dict[str, Any] | list[Any] | None = None, *,
                 content_type: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """One API call with TLS verified against the server's CA; PATCH defaults to a JSON merge patch."""
    with _open(peer, method, path, body, content_type, timeout) as r:
        raw = r.read()
    result: dict[str, Any] = json.loads(raw) if raw else {}
    return result


def _open(peer: Peer, method: str, path: str, body: dict[str, Any] | list[Any] | None, content_type: str | None,
          timeout: float) -> Any:
    """The open response of one call, after waiting out any 429 the server asks us to retry within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        req = _request(peer, method, path, body, content_type)
        try:
            return urllib.request.urlopen(req, timeout=timeout, context=_ssl_context(peer))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            wait = _retry_after(exc)
            if wait is None or time.monotonic() + wait > deadline:
                raise KubeError(exc.code, text, method, path) from None
            time.sleep(wait)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Seconds to wait before asking again, for a 429 the server asks us to retry (as client-go does).

    A freshly created CRD answers 429 "storage is (re)initializing" with Retry-After: 1 for a moment; CI met it once.
    """
    if exc.code != 429:
        return None
    header = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return min(max(float(header), 0.1), 5.0) if header else 1.0
    except ValueError:
        return 1.0


def kube_watch(peer: Peer, path: str, *, timeout: float = 30.0) -> Iterator[dict[str, Any]]:
    """Stream watch events ({"type", "object"}) from a path that already carries ?watch=1 and its options."""
    with _open(peer, "GET", path, None, None, timeout) as resp:
        for line in resp:
            if line.strip():
                yield json.loads(line)


def create_namespace(peer: Peer, prefix: str = "t") -> str:
    """A new namespace with a unique name (deleted ones stay Terminating: no namespace controller runs)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    kube_request(peer, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}})
    return name


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """A real kube-apiserver (with its etcd) on loopback; extra has token, ca_file and kubeconfig."""
    peer = start(tmp_path_factory.mktemp("kube"))
    try:
        yield peer
    finally:
        stop(peer)


@pytest.fixture
def kube_namespace(kube_apiserver: Peer) -> str:
    """A fresh, uniquely named namespace for one test."""
    return create_namespace(kube_apiserver)
