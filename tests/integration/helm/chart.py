"""Running the real helm binary against helm/observe, and fetching the CRDs the chart's objects need."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.peers import gobuild, helm

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "observe"
VALUES = Path(__file__).with_name("values")

PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.93.0")
ISTIO_API = ("istio.io/api", "v1.30.8")
# The matrix every static test runs over: values file stem -> what it proves.
MATRIX = ["defaults", "everything-on", "everything-off", "sharding", "kibana", "istio"]
# What an API server with the prometheus-operator CRDs serves: `helm template` has no cluster to ask, so the
# matrix renders as for such a cluster; pass api_versions=() to render for a bare one.
OPERATOR_API_VERSIONS = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule",
                         "monitoring.coreos.com/v1alpha1/AlertmanagerConfig")


def run_helm(binary: Path, home: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm with its config, cache and release storage kept under `home`."""
    # No cluster: `helm template` and `helm lint` must never reach one.
    env = {**os.environ, **helm.env(home), "KUBECONFIG": os.devnull}
    out = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=300, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def values_args(names: Sequence[str]) -> list[str]:
    """-f for each named values file of the matrix (the defaults need none)."""
    return [arg for n in names if n != "defaults" for arg in ("-f", str(VALUES / f"{n}.yaml"))]


def template(binary: Path, home: Path, *names: str, extra: Sequence[str] = (), namespace: str = "observe",
             api_versions: Sequence[str] = OPERATOR_API_VERSIONS) -> list[dict[str, Any]]:
    """`helm template observe` with the named values files: every rendered object (test hooks included)."""
    served = [arg for v in api_versions for arg in ("--api-versions", v)]
    out = run_helm(binary, home, "template", "observe", CHART, "--namespace", namespace, *values_args(names),
                   *served, *extra)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def config_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The observe config file the chart renders (the `config.yaml` key of its ConfigMap)."""
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "config.yaml" in obj.get("data", {}):
            data: dict[str, Any] = yaml.safe_load(obj["data"]["config.yaml"])
            return data
    raise AssertionError("no ConfigMap with config.yaml rendered")


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a bare `=` (an enum value in the operator's CRDs) as a special tag: keep it a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream, bare `=` included."""
    return list(yaml.load_all(text, Loader=_CrdLoader))


def module_dir(module: str, version: str) -> Path:
    """A Go module's source folder, fetched through the Go module proxy into the module cache."""
    return Path(gobuild.download(module, version)["Dir"])


def prometheus_operator_crds() -> list[dict[str, Any]]:
    """ServiceMonitor, PrometheusRule, AlertmanagerConfig... as published in the operator's Go module."""
    folder = module_dir(*PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    return [load_all(p.read_text())[0] for p in sorted(folder.glob("monitoring.coreos.com_*.yaml"))]


def istio_telemetry_crd() -> dict[str, Any]:
    """The telemetries.telemetry.istio.io CRD from istio.io/api."""
    path = module_dir(*ISTIO_API) / "kubernetes" / "customresourcedefinitions.gen.yaml"
    for doc in load_all(path.read_text()):
        if doc and doc.get("metadata", {}).get("name") == "telemetries.telemetry.istio.io":
            return dict(doc)
    raise AssertionError(f"{path} holds no telemetries.telemetry.istio.io CRD")
