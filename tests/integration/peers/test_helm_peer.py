"""The helm peer: the built binary reports its version, lints charts and assumes a modern Kubernetes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.peers import helm, kube

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
