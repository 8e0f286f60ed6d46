"""Compatibility: a real Prometheus scrapes every exporter (cluster on a seeded real kube-apiserver, probe, and
elasticsearch on the real node), and kubernetes-mixin-style queries written for kube-state-metrics give the values
of the objects we created.

tests/integration/render/test_live_dashboards.py proves that every dashboard query returns *some* series; this test
proves the *values* of the joins and aggregations users' alerts depend on.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.peers import prometheus
from tests.peers.base import Peer, free_port, http_ok, start_process, wait_ready
from tests.peers.kube import create_namespace, kube_request

pytestmark = [pytest.mark.integration]

OBSERVE = str(Path(sys.executable).parent / "observe")

# kubernetes-mixin's namespace_workload_pod:kube_pod_owner:relabel rule for Deployments (job matchers dropped):
# pod -> ReplicaSet (kube_pod_owner) -> Deployment (kube_replicaset_owner).
POD_TO_DEPLOYMENT = """
max by (namespace, workload, pod) (
  label_replace(
    label_replace(kube_pod_owner{owner_kind="ReplicaSet", namespace="NS"}, "replicaset", "$1", "owner_name", "(.*)")
    * on (replicaset, namespace) group_left(owner_name)
      topk by (replicaset, namespace) (1, max by (replicaset, namespace, owner_name) (
        kube_replicaset_owner{owner_kind="Deployment", namespace="NS"})),
    "workload", "$1", "owner_name", "(.*)"))
"""


@dataclass
class Seeded:
    """Names and expected values of the objects created for the queries."""

    ns: str
    other_ns: str
    replicaset: str
    rs_pods: tuple[str, ...]
    cpu_by_namespace: dict[str, float]


def _container(name: str, cpu: str) -> dict[str, Any]:
    return {"name": name, "image": f"registry.test/{name}:1", "resources": {"requests": {"cpu": cpu, "memory": "32Mi"}}}


def _pod(kube: Peer, ns: str, name: str, containers: list[dict[str, Any]], owner: dict[str, Any] | None) -> None:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["ownerReferences"] = [{**owner, "controller": True, "blockOwnerDeletion": True}]
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/pods",
                 {"metadata": meta, "spec": {"nodeName": "compat-node", "containers": containers}})


def _deployment(kube: Peer, ns: str, name: str, replicas: int, available: int) -> dict[str, Any]:
    labels = {"app": name}
    dep = kube_request(kube, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"containers": [_container("app", "10m")]}}}})
    kube_request(kube, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/status", {"status": {
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": available,
        "availableReplicas": available, "unavailableReplicas": replicas - available}})
    return dep


def seed(kube: Peer) -> Seeded:
    """Two namespaces: a Deployment -> ReplicaSet -> 2 Pods chain, a mismatched Deployment, and an unowned pod."""
    ns, other = create_namespace(kube, "compat"), create_namespace(kube, "compat")
    web = _deployment(kube, ns, "web", replicas=2, available=2)
    _deployment(kube, ns, "api", replicas=4, available=1)
    rs_name = "web-7c9f8d"
    rs = kube_request(kube, "POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "metadata": {"name": rs_name, "labels": {"app": "web"}, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": web["metadata"]["uid"],
            "controller": True}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [_container("app", "10m")]}}}})
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs["metadata"]["uid"]}
    pods = (f"{rs_name}-a1b2c", f"{rs_name}-d3e4f")
    _pod(kube, ns, pods[0], [_container("app", "250m"), _container("sidecar", "50m")], owner)
    _pod(kube, ns, pods[1], [_container("app", "250m"), _container("sidecar", "50m")], owner)
    _pod(kube, ns, "standalone", [_container("app", "1")], None)
    _pod(kube, other, "batch", [_container("app", "1500m")], None)
    return Seeded(ns, other, rs_name, pods, {ns: 0.25 + 0.05 + 0.25 + 0.05 + 1.0, other: 1.5})


def _exporter(name: str, workdir: Path, args: list[str], config: dict[str, Any]) -> Peer:
    port = free_port()
    cfg = workdir / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"service": {"host": "127.0.0.1", "port": port}, **config}))
    peer = start_process(name, [OBSERVE, *args, "--config", str(cfg)], workdir)
    peer.url = f"http://127.0.0.1:{port}"
    peer.ports["http"] = port
    return wait_ready(peer, lambda: http_ok(f"{peer.url}/readyz"), timeout=90)


@pytest.fixture(scope="module")
def exporters(tmp_path_factory: pytest.TempPathFactory, kube_apiserver: Peer,
              elasticsearch: Peer) -> Iterator[dict[str, Peer]]:
    """The three exporters as `observe export ...` processes."""
    workdir = tmp_path_factory.mktemp("compat")
    started: dict[str, Peer] = {}
    try:
        started["cluster"] = _exporter("cluster-exporter", workdir, [
            "export", "cluster", "--kubeconfig", str(kube_apiserver.extra["kubeconfig"])], {})
        started["elasticsearch"] = _exporter("es-exporter", workdir, ["export", "elasticsearch"], {
            "elasticsearch": {"url": elasticsearch.url}, "exporters": {"elasticsearch": {"interval_seconds": 1}}})
        started["probe"] = _exporter("probe-exporter", workdir, ["export", "probe"], {
            "exporters": {"probe": {"allow_cidrs": ["127.0.0.1/32"], "discovery": False,
                                    # The probed target is the ES exporter's /healthz (see prom below).
                                    "allow_ports": [started["elasticsearch"].ports["http"]]}}})
        yield started
    finally:
        for peer in started.values():
            peer.stop()


@pytest.fixture(scope="module")
def seeded(kube_apiserver: Peer) -> Seeded:
    return seed(kube_apiserver)


@pytest.fixture
def prom(prometheus_factory: Any, exporters: dict[str, Peer], seeded: Seeded) -> Peer:
    """Prometheus scraping all three exporters every second, as the chart's ServiceMonitors would."""
    def static(job: str, peer: Peer) -> dict[str, Any]:
        return {"job_name": job, "honor_labels": True,
                "static_configs": [{"targets": [peer.url.removeprefix("http://")]}]}

    probe_target = f"{exporters['elasticsearch'].url}/healthz"
    peer: Peer = prometheus_factory(job="unused", extra_scrape_configs=[
        static("kube-state-metrics", exporters["cluster"]),
        static("elasticsearch", exporters["elasticsearch"]),
        {"job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
         "static_configs": [{"targets": [probe_target]}],
         "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                             {"source_labels": ["__param_target"], "target_label": "instance"},
                             {"target_label": "__address__",
                              "replacement": exporters["probe"].url.removeprefix("http://")}]},
    ])
    # Every object is in: the last pod created is the one in the other namespace.
    prometheus.wait_for(peer, f'kube_pod_info{{namespace="{seeded.other_ns}",pod="batch"}}', timeout=60)
    prometheus.wait_for(peer, 'up{job="elasticsearch"} == 1 and on() elasticsearch_up == 1', timeout=60)
    prometheus.wait_for(peer, 'up{job="blackbox"} == 1 and on() probe_success', timeout=60)
    return peer


def _by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1]) for s in result}


def test_every_exporter_is_scraped_up(prom: Peer) -> None:
    """Prometheus parses every exporter's exposition: each job is up."""
    up = _by(prometheus.wait_for(prom, "up", predicate=lambda r: len(r) == 3), "job")
    assert up == {("kube-state-metrics",): 1.0, ("elasticsearch",): 1.0, ("blackbox",): 1.0}


def test_pod_owner_join_resolves_the_replicaset(prom: Peer, seeded: Seeded) -> None:
    """kube_pod_info * on(namespace,pod) group_left(owner_name) kube_pod_owner gives each pod its ReplicaSet."""
    query = (f'kube_pod_info{{namespace="{seeded.ns}"}} * on(namespace, pod) group_left(owner_name) '
             f'kube_pod_owner{{owner_kind="ReplicaSet"}}')
    joined = _by(prometheus.query(prom, query), "pod", "owner_name", "created_by_kind")
    assert joined == {(pod, seeded.replicaset, "ReplicaSet"): 1.0 for pod in seeded.rs_pods}
    # The unowned pod keeps kube-state-metrics' <none> owner.
    none = _by(prometheus.query(prom, f'kube_pod_owner{{namespace="{seeded.ns}",pod="standalone"}}'),
               "owner_kind", "owner_name", "owner_is_controller")
    assert none == {("<none>", "<none>", "<none>"): 1.0}


def test_mixin_workload_relabel_maps_pods_to_their_deployment(prom: Peer, seeded: Seeded) -> None:
    """The mixin's pod -> ReplicaSet -> Deployment rule names the Deployment as each pod's workload."""
    result = prometheus.query(prom, POD_TO_DEPLOYMENT.replace("NS", seeded.ns))
    assert _by(result, "pod", "workload") == {(pod, "web"): 1.0 for pod in seeded.rs_pods}


def test_cpu_requests_by_namespace_equal_what_was_created(prom: Peer, seeded: Seeded) -> None:
    """sum by(namespace) of container CPU requests (cores) is the sum of the pods' containers, per namespace."""
    query = (f'sum by (namespace) (kube_pod_container_resource_requests'
             f'{{resource="cpu",unit="core",namespace=~"{seeded.ns}|{seeded.other_ns}"}})')
    sums = _by(prometheus.query(prom, query), "namespace")
    assert sums.keys() == {(seeded.ns,), (seeded.other_ns,)}
    for ns, expected in seeded.cpu_by_namespace.items():
        assert sums[(ns,)] == pytest.approx(expected)


def test_replicas_mismatch_shows_only_the_mismatched_deployment(prom: Peer, seeded: Seeded) -> None:
    """kube_deployment_spec_replicas != kube_deployment_status_replicas_available: exactly the one we broke."""
    query = (f'kube_deployment_spec_replicas{{namespace="{seeded.ns}"}} '
             f'!= kube_deployment_status_replicas_available{{namespace="{seeded.ns}"}}')
    assert _by(prometheus.query(prom, query), "deployment") == {("api",): 4.0}
    unavailable = _by(prometheus.query(prom, f'kube_deployment_status_replicas_unavailable{{namespace="{seeded.ns}"}}'),
                      "deployment")
    assert unavailable == {("api",): 3.0, ("web",): 0.0}


def test_probe_and_elasticsearch_values_match_their_sources(prom: Peer, elasticsearch: Peer) -> None:
    """The probe of a live endpoint succeeds with HTTP 200; ES health in Prometheus is the cluster's own answer."""
    probe = _by(prometheus.query(prom, '{__name__=~"probe_success|probe_http_status_code"}'), "__name__")
    assert probe == {("probe_success",): 1.0, ("probe_http_status_code",): 200.0}
    with urllib.request.urlopen(f"{elasticsearch.url}/_cluster/health", timeout=10) as r:
        health = json.load(r)
    nodes = _by(prometheus.query(prom, "elasticsearch_cluster_health_number_of_nodes"), "__name__")
    assert list(nodes.values()) == [float(health["number_of_nodes"])]
    colors = _by(prometheus.query(prom, "elasticsearch_cluster_health_status == 1"), "color")
    assert colors == {(health["status"],): 1.0}
