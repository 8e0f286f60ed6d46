"""A real Alertmanager (Debian's prometheus-alertmanager) with amtool, on 127.0.0.1 with gossip off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers import debian
from tests.peers.base import Peer, free_port, http_ok, start_process, wait_ready, which

VERSION = "debian"
INSTALL_ORDER = 1
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds


def install() -> None:
    """Alertmanager and amtool come from Debian's prometheus-alertmanager package."""
    debian.install()


def start(workdir: Path, config_file: Path) -> Peer:
    """Start Alertmanager with config_file; gossip is switched off so nothing binds 0.0.0.0."""
    install()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    peer = start_process("alertmanager", [
        which("prometheus-alertmanager"), f"--config.file={config_file}", f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug",
    ], workdir, cwd=config_file.parent)
    peer.url = f"http://127.0.0.1:{port}"
    peer.ports["http"] = port
    return wait_ready(peer, lambda: http_ok(f"{peer.url}/-/ready"), timeout=60)


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[Any]:
    """start(config_file) -> Peer; stopped after the test."""
    started: list[Peer] = []

    def factory(config_file: Path) -> Peer:
        peer = start(tmp_path / f"alertmanager-{len(started)}", config_file)
        started.append(peer)
        return peer

    yield factory
    for peer in started:
        peer.stop()
