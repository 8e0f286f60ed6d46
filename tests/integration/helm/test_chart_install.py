"""`helm install` into a real kube-apiserver: objects, Pod Security, upgrade, uninstall, schema refusal.

The API server runs no controllers, so the test plays the workload controllers where it matters: it creates
Pods from the installed pod templates to prove what PodSecurity admission lets in.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from observe.app.config import load_config
from tests.integration.helm import chart
from tests.peers.base import Peer
from tests.peers.helm import env as helm_env
from tests.peers.kube import KubeError, kube_request

pytestmark = pytest.mark.integration

INSTANCE = "app.kubernetes.io/instance"
# Namespaced kinds the chart creates: (API path prefix, plural).
NAMESPACED = [
    ("/api/v1", "configmaps"), ("/api/v1", "services"), ("/api/v1", "serviceaccounts"), ("/api/v1", "secrets"),
    ("/apis/apps/v1", "deployments"), ("/apis/apps/v1", "statefulsets"), ("/apis/apps/v1", "daemonsets"),
    ("/apis/batch/v1", "jobs"), ("/apis/policy/v1", "poddisruptionbudgets"),
    ("/apis/networking.k8s.io/v1", "networkpolicies"),
    ("/apis/monitoring.coreos.com/v1", "servicemonitors"), ("/apis/monitoring.coreos.com/v1", "prometheusrules"),
    ("/apis/monitoring.coreos.com/v1alpha1", "alertmanagerconfigs"),
    ("/apis/telemetry.istio.io/v1", "telemetries"),
]
CLUSTER_SCOPED = [
    ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"), ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings"),
    ("/apis/scheduling.k8s.io/v1", "priorityclasses"),
]
USED_CRDS = {"servicemonitors", "prometheusrules", "alertmanagerconfigs"}


def ensure(peer: Peer, path: str, body: dict[str, Any]) -> None:
    """POST, treating 409 (already there) as success."""
    try:
        kube_request(peer, "POST", path, body)
    except KubeError as exc:
        if exc.status != 409:
            raise


def namespace(peer: Peer, prefix: str, labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kube_request(peer, "POST", "/api/v1/namespaces",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
    return name


@pytest.fixture(scope="module")
def cluster(kube_apiserver: Peer) -> Peer:
    """The API server with the prometheus-operator and Istio Telemetry CRDs applied (fetched now, never committed)."""
    crds = [c for c in chart.prometheus_operator_crds() if c["spec"]["names"]["plural"] in USED_CRDS]
    assert {c["spec"]["names"]["plural"] for c in crds} == USED_CRDS
    crds.append(chart.istio_telemetry_crd())
    for crd in crds:
        ensure(kube_apiserver, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    deadline = time.monotonic() + 60
    for crd in crds:
        name = crd["metadata"]["name"]
        while True:
            got = kube_request(kube_apiserver, "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = (got.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            assert time.monotonic() < deadline, f"CRD {name} never became Established"
            time.sleep(0.3)
    ensure(kube_apiserver, "/api/v1/namespaces",
           {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    return kube_apiserver


@pytest.fixture
def helm_home(tmp_path: Path) -> Path:
    return tmp_path / "helm"


def helm(binary: Path, home: Path, peer: Peer, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm against the real API server; releases stored as Secrets, as in a real cluster."""
    env = {**os.environ, **helm_env(home), "HELM_DRIVER": "secret"}
    argv = [str(binary), "--kubeconfig", str(peer.extra["kubeconfig"]), *map(str, args)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv[3:])} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def get(peer: Peer, path: str) -> dict[str, Any]:
    return kube_request(peer, "GET", path)


def instance_objects(peer: Peer, ns: str, release: str) -> list[str]:
    """Every object labelled with the release, namespaced (in ns and istio-system) and cluster-scoped."""
    selector = urllib.parse.quote(f"{INSTANCE}={release}")
    found: list[str] = []
    for prefix, plural in NAMESPACED:
        for where in (ns, "istio-system"):
            try:
                items = get(peer, f"{prefix}/namespaces/{where}/{plural}?labelSelector={selector}")["items"]
            except KubeError as exc:
                if exc.status == 404:  # a kind this server does not serve (no CRD) holds nothing
                    continue
                raise
            found += [f"{plural}/{where}/{i['metadata']['name']}" for i in items]
    for prefix, plural in CLUSTER_SCOPED:
        items = get(peer, f"{prefix}/{plural}?labelSelector={selector}")["items"]
        found += [f"{plural}/{i['metadata']['name']}" for i in items]
    return sorted(found)


@pytest.fixture
def installed(helm_binary: Path, helm_home: Path, cluster: Peer) -> Iterator[tuple[str, str]]:
    """Release `obs` of everything-on installed into a fresh namespace; uninstalled afterwards if still there."""
    ns = namespace(cluster, "observe")
    release = f"obs{uuid.uuid4().hex[:6]}"
    helm(helm_binary, helm_home, cluster, "install", release, chart.CHART, "-n", ns,
         *chart.values_args(["everything-on"]), "--set", f"fullnameOverride={release}")
    try:
        yield ns, release
    finally:
        helm(helm_binary, helm_home, cluster, "uninstall", release, "-n", ns, check=False)


def test_install_creates_every_object_with_the_expected_spec(cluster: Peer, installed: tuple[str, str]) -> None:
    ns, release = installed
    objects = instance_objects(cluster, ns, release)
    for expected in (f"daemonsets/{ns}/{release}-shipper", f"deployments/{ns}/{release}-cluster-exporter",
                     f"deployments/{ns}/{release}-probe-exporter", f"deployments/{ns}/{release}-elasticsearch-exporter",
                     f"deployments/{ns}/{release}-trace-puller", f"servicemonitors/{ns}/{release}-shipper",
                     f"alertmanagerconfigs/{ns}/{release}-alertmanager", f"telemetries/istio-system/{release}-tracing",
                     f"clusterroles/{release}-cluster-exporter", f"priorityclasses/{release}-shipper",
                     f"networkpolicies/{ns}/{release}-probe-exporter",
                     f"poddisruptionbudgets/{ns}/{release}-cluster-exporter"):
        assert expected in objects, f"{expected} missing; found {objects}"
    assert not [o for o in objects if o.startswith("secrets/") and "sh.helm.release" not in o]

    ds = get(cluster, f"/apis/apps/v1/namespaces/{ns}/daemonsets/{release}-shipper")
    container = ds["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["observe", "ship"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}
    assert ds["spec"]["template"]["spec"]["priorityClassName"] == f"{release}-shipper"

    role = get(cluster, f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{release}-cluster-exporter")
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}

    monitor = get(cluster, f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors/{release}-cluster-exporter")
    assert monitor["spec"]["jobLabel"] == "observe.io/job"
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    rules = get(cluster, f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules")["items"]
    assert len(rules) == len(list((chart.CHART / "files" / "prometheusrule").glob("*.yaml")))
    assert all(r["spec"]["groups"] for r in rules)

    config = get(cluster, f"/api/v1/namespaces/{ns}/configmaps/{release}-config")["data"]["config.yaml"]
    parsed = load_config_text(config)
    assert parsed["elasticsearch"]["url"] == "https://es.logging.svc:9200"


def load_config_text(text: str) -> dict[str, Any]:
    """Validate the installed config with observe's own loader; return it as data."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        load_config(Path(f.name))
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_upgrade_with_changed_values_updates_the_objects(helm_binary: Path, helm_home: Path, cluster: Peer,
                                                         installed: tuple[str, str]) -> None:
    ns, release = installed
    before = get(cluster, f"/apis/apps/v1/namespaces/{ns}/deployments/{release}-probe-exporter")
    helm(helm_binary, helm_home, cluster, "upgrade", release, chart.CHART, "-n", ns,
         *chart.values_args(["everything-on"]), "--set", f"fullnameOverride={release}",
         "--set", "probeExporter.replicas=3", "--set", "service.logLevel=debug",
         "--set", "clusterExporter.sharding.enabled=true", "--set", "clusterExporter.sharding.shards=2",
         "--set", "tracePuller.enabled=false")
    after = get(cluster, f"/apis/apps/v1/namespaces/{ns}/deployments/{release}-probe-exporter")
    assert after["spec"]["replicas"] == 3
    checksum = "checksum/config"
    assert after["spec"]["template"]["metadata"]["annotations"][checksum] != \
        before["spec"]["template"]["metadata"]["annotations"][checksum], "a config change must roll the pods"
    config = yaml.safe_load(get(cluster, f"/api/v1/namespaces/{ns}/configmaps/{release}-config")["data"]["config.yaml"])
    assert config["service"]["log_level"] == "debug"
    sts = get(cluster, f"/apis/apps/v1/namespaces/{ns}/statefulsets/{release}-cluster-exporter")
    assert sts["spec"]["replicas"] == 2
    objects = instance_objects(cluster, ns, release)
    assert f"deployments/{ns}/{release}-cluster-exporter" not in objects
    assert not [o for o in objects if "trace-puller" in o]
    history = helm(helm_binary, helm_home, cluster, "history", release, "-n", ns, "-o", "json")
    assert [h["revision"] for h in json.loads(history.stdout)] == [1, 2]


def test_uninstall_leaves_nothing_behind(helm_binary: Path, helm_home: Path, cluster: Peer,
                                         installed: tuple[str, str]) -> None:
    ns, release = installed
    assert instance_objects(cluster, ns, release)
    helm(helm_binary, helm_home, cluster, "uninstall", release, "-n", ns)
    assert instance_objects(cluster, ns, release) == []
    assert get(cluster, f"/api/v1/namespaces/{ns}/secrets")["items"] == []  # the release records too


def pod_from(workload: dict[str, Any], ns: str) -> dict[str, Any]:
    """What the workload's controller would create: a Pod from its template (bound to a node, as a scheduler would)."""
    template = workload["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{workload['metadata']['name']}-{uuid.uuid4().hex[:5]}", "namespace": ns,
                         "labels": template["metadata"].get("labels", {})},
            "spec": {**template["spec"], "nodeName": "node-a"}}


def test_restricted_namespace_admits_every_part_but_the_shipper(helm_binary: Path, helm_home: Path,
                                                                 cluster: Peer) -> None:
    ns = namespace(cluster, "restricted", {"pod-security.kubernetes.io/enforce": "restricted",
                                           "pod-security.kubernetes.io/enforce-version": "latest"})
    release = f"rst{uuid.uuid4().hex[:6]}"
    helm(helm_binary, helm_home, cluster, "install", release, chart.CHART, "-n", ns,
         *chart.values_args(["everything-on"]), "--set", f"fullnameOverride={release}")
    try:
        workloads = [*get(cluster, f"/apis/apps/v1/namespaces/{ns}/deployments")["items"],
                     *get(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]]
        assert len(workloads) >= 5  # four Deployments and the Kibana import Job
        for workload in workloads:
            pod = pod_from(workload, ns)
            created = kube_request(cluster, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
            assert created["metadata"]["name"] == pod["metadata"]["name"]
        shipper = get(cluster, f"/apis/apps/v1/namespaces/{ns}/daemonsets/{release}-shipper")
        with pytest.raises(KubeError) as refused:
            kube_request(cluster, "POST", f"/api/v1/namespaces/{ns}/pods", pod_from(shipper, ns))
        assert refused.value.status == 403
        assert "violates PodSecurity" in str(refused.value) and "hostPath" in str(refused.value)
    finally:
        for pod in get(cluster, f"/api/v1/namespaces/{ns}/pods")["items"]:
            kube_request(cluster, "DELETE", f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}?gracePeriodSeconds=0")
        helm(helm_binary, helm_home, cluster, "uninstall", release, "-n", ns, check=False)


def test_bad_values_are_refused_before_anything_is_created(helm_binary: Path, helm_home: Path, cluster: Peer) -> None:
    ns = namespace(cluster, "bad")
    out = helm(helm_binary, helm_home, cluster, "install", "bad", chart.CHART, "-n", ns,
               "-f", chart.VALUES / "bad-unknown-key.yaml", check=False)
    assert out.returncode != 0
    assert "enabeld" in out.stderr and "schema" in out.stderr, out.stderr
    assert instance_objects(cluster, ns, "bad") == []


def test_install_notes_say_what_runs_what_is_off_and_where_to_look(helm_binary: Path, helm_home: Path,
                                                                   cluster: Peer) -> None:
    ns = namespace(cluster, "notes")
    release = f"nts{uuid.uuid4().hex[:6]}"
    out = helm(helm_binary, helm_home, cluster, "install", release, chart.CHART, "-n", ns,
               "--set", f"fullnameOverride={release}")
    try:
        notes = out.stdout[out.stdout.index("NOTES:"):]
        for part in ("shipper", "cluster-exporter", "probe-exporter", "elasticsearch-exporter"):
            assert f"  - {part}: `observe " in notes
        assert "trace-puller: off (tracePuller.enabled=false)" in notes
        assert "logs-kubernetes.container-default" in notes
        assert f"helm test {release} -n {ns}" in notes
        assert "Skipped" not in notes, "the operator's CRDs are installed: nothing is skipped"
        assert f"Alert routing: AlertmanagerConfig {release}-alertmanager" in notes
    finally:
        helm(helm_binary, helm_home, cluster, "uninstall", release, "-n", ns, check=False)
