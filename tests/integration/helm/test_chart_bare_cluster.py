"""`helm install` with default values on a bare cluster: no prometheus-operator CRDs, no Elasticsearch.

A real kube-apiserver of its own (the other install tests apply the operator's CRDs to the session's API
server, and a CRD is cluster-wide).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.helm import chart
from tests.integration.helm.test_chart_install import get, helm, instance_objects, namespace
from tests.peers import kube
from tests.peers.base import Peer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    peer = kube.start(tmp_path_factory.mktemp("kube-bare"))
    try:
        yield peer
    finally:
        kube.stop(peer)


def test_default_install_succeeds_without_the_operator_crds_and_notes_say_what_was_skipped(
    helm_binary: Path, tmp_path: Path, bare: Peer
) -> None:
    ns = namespace(bare, "bare")
    release = f"bare{uuid.uuid4().hex[:6]}"
    out = helm(helm_binary, tmp_path / "helm", bare, "install", release, chart.CHART, "-n", ns,
               "--set", f"fullnameOverride={release}")
    notes = out.stdout[out.stdout.index("NOTES:"):]
    assert "Skipped: the API server does not serve these prometheus-operator kinds" in notes
    for kind in ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"):
        assert f"  - {kind}: " in notes, notes
    assert f"Prometheus rule files in ConfigMap {release}-rules" in notes
    assert f"Alert routing: Secret {release}-alertmanager" in notes
    [missing] = [ln for ln in notes.splitlines() if ln.startswith("MISSING:")]
    assert f"Service elasticsearch-master in namespace {ns} does not exist" in missing
    assert "shipper and elasticsearch-exporter stay not Ready" in missing
    assert "set elasticsearch.url" in missing

    objects = instance_objects(bare, ns, release)
    assert f"configmaps/{ns}/{release}-rules" in objects
    assert f"secrets/{ns}/{release}-alertmanager" in objects
    assert not [o for o in objects if o.split("/")[0] in ("servicemonitors", "prometheusrules", "alertmanagerconfigs")]
    rules = get(bare, f"/api/v1/namespaces/{ns}/configmaps/{release}-rules")["data"]
    assert all(yaml.safe_load(text)["groups"] for text in rules.values())
    service = get(bare, f"/api/v1/namespaces/{ns}/services/{release}-probe-exporter")
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"

    helm(helm_binary, tmp_path / "helm", bare, "uninstall", release, "-n", ns)
    assert instance_objects(bare, ns, release) == []


def test_no_missing_line_when_the_elasticsearch_service_exists(helm_binary: Path, tmp_path: Path, bare: Peer) -> None:
    ns = namespace(bare, "esok")
    kube.kube_request(bare, "POST", f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "elasticsearch-master"},
        "spec": {"ports": [{"port": 9200}]}})
    release = f"esok{uuid.uuid4().hex[:6]}"
    out = helm(helm_binary, tmp_path / "helm", bare, "install", release, chart.CHART, "-n", ns,
               "--set", f"fullnameOverride={release}")
    try:
        assert "MISSING" not in out.stdout
        # An Elasticsearch in another namespace, named as name.namespace.svc, is looked up there.
        other = helm(helm_binary, tmp_path / "helm", bare, "upgrade", release, chart.CHART, "-n", ns,
                     "--set", f"fullnameOverride={release}", "--set", "elasticsearch.url=https://es.logging.svc:9200")
        [missing] = [ln for ln in other.stdout.splitlines() if ln.startswith("MISSING:")]
        assert "Service es in namespace logging does not exist" in missing
        outside = helm(helm_binary, tmp_path / "helm", bare, "upgrade", release, chart.CHART, "-n", ns,
                       "--set", f"fullnameOverride={release}", "--set", "elasticsearch.url=https://es.example.com:9200")
        assert "MISSING" not in outside.stdout, "a URL outside the cluster is not checked"
    finally:
        helm(helm_binary, tmp_path / "helm", bare, "uninstall", release, "-n", ns, check=False)
