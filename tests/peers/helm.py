"""Helm 3 built from the Go module proxy, told at link time which Kubernetes version to assume."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import gobuild, kube

VERSION = "v3.22.0"
INSTALL_ORDER = 40

MODULE = "helm.sh/helm/v3"


def ldflags() -> list[str]:
    """Version stamp, and the Kubernetes version `helm template`/`helm lint` assume (v1.20 otherwise)."""
    major, minor = kube.version_parts(kube.VERSION)
    flags = [f"-X {MODULE}/internal/version.version={VERSION}", f"-X {MODULE}/internal/version.gitTreeState=clean"]
    for pkg in ("pkg/chartutil", "pkg/lint/rules"):
        flags += [f"-X {MODULE}/{pkg}.k8sVersionMajor={major}", f"-X {MODULE}/{pkg}.k8sVersionMinor={minor}"]
    return flags


def install() -> None:
    """Build helm (idempotent: seconds when cached)."""
    binary()


def binary() -> Path:
    """The helm binary, built once per version."""
    return gobuild.build("helm", VERSION, f"{MODULE}/cmd/helm", module=MODULE, ldflags=ldflags())


def env(home: Path) -> dict[str, str]:
    """Environment that keeps helm's config, cache and releases out of the user's home, releases in memory."""
    # HELM_DRIVER=memory alone makes helm exit ("Unable to read memory driver data"): it always reads
    # HELM_MEMORY_DRIVER_DATA, so hand it an empty release list.
    home.mkdir(parents=True, exist_ok=True)
    releases = home / "releases.yaml"
    if not releases.exists():
        releases.write_text("[]\n")
    return {"HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"), "HELM_DRIVER": "memory",
            "HELM_MEMORY_DRIVER_DATA": str(releases)}


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """Path to a helm v3 binary that assumes the project's Kubernetes version."""
    return binary()
