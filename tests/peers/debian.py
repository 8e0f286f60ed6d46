"""Debian packages the bench needs: Prometheus + promtool, Alertmanager + amtool, Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.peers.base import PeerError

VERSION = "bookworm"
INSTALL_ORDER = 0
PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
            "amtool": "prometheus-alertmanager", "chromium": "chromium"}


def install() -> None:
    """apt-get install what is missing (needs root, as on the dev machines and CI)."""
    missing = sorted({pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise PeerError(f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        out = subprocess.run(argv, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise PeerError(f"{' '.join(argv)} failed:\n{(out.stdout + out.stderr)[-3000:]}")
