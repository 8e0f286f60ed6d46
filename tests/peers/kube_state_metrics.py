"""kube-state-metrics from the Go module proxy, for the cluster exporter's benchmark comparison (not a test peer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import gobuild
from tests.peers.base import CACHE

VERSION = "v2.20.0"
INSTALL_ORDER = 90  # after kube-apiserver: never two big Go builds at once
BENCH_ONLY = True  # `make test` does not build it; `make bench` does
MODULE = "k8s.io/kube-state-metrics/v2"


def install() -> None:
    """Build kube-state-metrics once per version (`go install`-able: its go.mod has no replaces)."""
    gobuild.build("kube-state-metrics", VERSION, MODULE, module=MODULE, binary="kube-state-metrics")


def binary_if_built() -> Path | None:
    """The cached binary, or None when it has not been built (the benchmark then runs without it)."""
    path = CACHE / f"kube-state-metrics-{VERSION}" / "bin" / "kube-state-metrics"
    return path if path.exists() else None


@pytest.fixture(scope="session")
def kube_state_metrics_binary() -> Path:
    """The kube-state-metrics binary (built on first use)."""
    install()
    path = binary_if_built()
    assert path is not None
    return path
