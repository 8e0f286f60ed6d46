"""A real Prometheus (Debian's package) with promtool, started with our own config on 127.0.0.1."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.peers import debian
from tests.peers.base import Peer, PeerError, free_port, http_ok, start_process, wait_ready, which

VERSION = "debian"
INSTALL_ORDER = 1
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds


def install() -> None:
    """Prometheus and promtool come from Debian's prometheus package."""
    debian.install()


def start(workdir: Path, *, targets: Sequence[str] = (), rule_files: Sequence[Path] = (),
          alertmanager_url: str | None = None, scrape_interval: str = "1s", evaluation_interval: str = "1s",
          job: str = "observe", extra_scrape_configs: Sequence[dict[str, Any]] = ()) -> Peer:
    """Start Prometheus scraping `targets` (host:port) and evaluating `rule_files`."""
    install()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}, *extra_scrape_configs],
    }
    if alertmanager_url:
        am = urllib.parse.urlparse(alertmanager_url)
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [am.netloc]}]}]}
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    peer = start_process("prometheus", [
        which("prometheus"), f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=info",
    ], workdir)
    peer.url = f"http://127.0.0.1:{port}"
    peer.ports["http"] = port
    return wait_ready(peer, lambda: http_ok(f"{peer.url}/-/ready"), timeout=60)


def api(peer: Peer, path: str, **params: str) -> Any:
    """GET /api/v1/<path> and return its `data`, raising on an API error."""
    url = f"{peer.url}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise PeerError(f"prometheus {path}: {body}")
    return body["data"]


def query(peer: Peer, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    data = api(peer, "query", query=expr)
    return list(data["result"])


def wait_for(peer: Peer, expr: str, timeout: float = 30.0, predicate: Any = None) -> list[dict[str, Any]]:
    """Poll an instant query until it returns a non-empty result (and predicate(result) holds)."""
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = query(peer, expr)
        if result and (predicate is None or predicate(result)):
            return result
        time.sleep(0.5)
    raise AssertionError(f"{expr!r} gave {result!r} after {timeout:.0f}s")


def reload(peer: Peer) -> None:
    """Ask Prometheus to re-read its config and rule files."""
    req = urllib.request.Request(f"{peer.url}/-/reload", method="POST")
    urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Any]:
    """start(targets=..., rule_files=..., alertmanager_url=...) -> Peer; every Prometheus is stopped afterwards."""
    started: list[Peer] = []

    def factory(**kwargs: Any) -> Peer:
        peer = start(tmp_path / f"prometheus-{len(started)}", **kwargs)
        started.append(peer)
        return peer

    yield factory
    for peer in started:
        peer.stop()
