"""The helm peer: the built binary reports its version, lints charts and assumes a modern Kubernetes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.peers import helm, kube
from tests.peers.base import Peer
from tests.peers.kube import kube_request

pytestmark = pytest.mark.integration


def _helm(binary: Path, home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home), **helm.env(home)})


def test_version_is_stamped_at_link_time(helm_binary: Path, tmp_path: Path) -> None:
    out = _helm(helm_binary, tmp_path, "version", "--template", "{{.Version}}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == helm.VERSION


def test_created_chart_lints_clean(helm_binary: Path, tmp_path: Path) -> None:
    created = _helm(helm_binary, tmp_path, "create", "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    linted = _helm(helm_binary, tmp_path, "lint", "--strict", str(tmp_path / "demo"))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


def test_template_assumes_the_project_kubernetes_version(helm_binary: Path, tmp_path: Path) -> None:
    chart = tmp_path / "kv"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: kv\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kv\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n")
    out = _helm(helm_binary, tmp_path, "template", "kv", str(chart))
    assert out.returncode == 0, out.stderr
    major, minor = kube.version_parts(kube.VERSION)
    assert f'kube: "v{major}.{minor}.0"' in out.stdout


def test_install_through_the_kube_peer_kubeconfig(helm_binary: Path, tmp_path: Path, kube_apiserver: Peer,
                                                  kube_namespace: str) -> None:
    # A real Go client (client-go inside helm) reads the fixture's kubeconfig, verifies TLS and authenticates.
    chart = tmp_path / "cm"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: cm\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-helm\ndata:\n  release: {{ .Release.Name | quote }}\n")
    env = {**helm.env(tmp_path), "HELM_DRIVER": "secret"}
    out = subprocess.run([str(helm_binary), "install", "demo", str(chart), "--namespace", kube_namespace,
                          "--kubeconfig", str(kube_apiserver.extra["kubeconfig"])],
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env})
    assert out.returncode == 0, out.stdout + out.stderr
    cm = kube_request(kube_apiserver, "GET", f"/api/v1/namespaces/{kube_namespace}/configmaps/from-helm")
    assert cm["data"] == {"release": "demo"}
