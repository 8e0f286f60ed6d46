"""Debian packages the peers need: Prometheus + promtool, Alertmanager + amtool, Chromium (and, through
apt_install, the node peer's container runtime and image tools)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from tests.peers.base import PeerError

VERSION = "bookworm"
INSTALL_ORDER = 0
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds
PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
            "amtool": "prometheus-alertmanager", "chromium": "chromium"}
# Peers install in two threads (tests/peers/__main__.py) and dpkg takes one apt-get at a time.
_APT = threading.Lock()


def _present(binary: str) -> bool:
    """A command on PATH, or an absolute path that exists (packages whose files are not on PATH)."""
    return Path(binary).exists() if binary.startswith("/") else shutil.which(binary) is not None


def apt_install(packages: Mapping[str, str]) -> None:
    """apt-get install the packages (binary or path -> package) whose binary is missing (needs root)."""
    with _APT:
        _apt_install(packages)


def _apt_install(packages: Mapping[str, str]) -> None:
    missing = sorted({pkg for binary, pkg in packages.items() if not _present(binary)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise PeerError(f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        out = subprocess.run(argv, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise PeerError(f"{' '.join(argv)} failed:\n{(out.stdout + out.stderr)[-3000:]}")


def install() -> None:
    """apt-get install what is missing (needs root, as on the dev machines and CI)."""
    apt_install(PACKAGES)
