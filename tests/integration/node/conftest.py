"""The node tests share one cluster (tests/peers/node.py), one build of each image and one release of the chart."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helm import chart
from tests.integration.logs.shipper_process import es as es_json
from tests.peers import images
from tests.peers.base import Peer
from tests.peers.helm import env as helm_env
from tests.peers.node import Cluster

HERE = Path(__file__).parent

WRITER_CONTAINERFILE = """\
ARG BASE
FROM ${BASE}
COPY logwriter.py /logwriter.py
USER 65532:65532
ENTRYPOINT ["python3", "/logwriter.py"]
"""
DATA_STREAM = "logs-kubernetes.container-default"
# Pod Security as docs/install.md says: the release namespace at `privileged` (the shipper), and a warning for
# every object that `restricted` would refuse, so the test sees that only the shipper would be.
RELEASE_NS_LABELS = {"pod-security.kubernetes.io/enforce": "privileged",
                     "pod-security.kubernetes.io/warn": "restricted",
                     "pod-security.kubernetes.io/warn-version": "latest"}


@dataclass
class NodeImages:
    observe: images.Image
    writer: images.Image
    build_seconds: float


@pytest.fixture(scope="session")
def node_images(node_cluster: Cluster) -> NodeImages:
    """The project's image and the workload image, built (or taken from the cache) and imported into containerd."""
    t0 = time.monotonic()
    observe = images.observe()
    python = images.python()
    script = (HERE / "logwriter.py").read_bytes()
    ctx = node_cluster.work / "writer-context"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "logwriter.py").write_bytes(script)
    writer = images.build_containerfile("logwriter", WRITER_CONTAINERFILE, ctx, build_args={"BASE": python.ref},
                                        parents=[python], context_digest=hashlib.sha256(script).hexdigest())
    for image in (observe, writer):
        node_cluster.import_image(image)
    return NodeImages(observe, writer, time.monotonic() - t0)


def helm(cluster: Cluster, home: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """helm against the node's API server, releases stored as Secrets."""
    from tests.peers import helm as helm_peer
    env = {**os.environ, **helm_env(home), "HELM_DRIVER": "secret"}
    argv = [str(helm_peer.binary()), "--kubeconfig", str(cluster.work / "admin.kubeconfig"), *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


@dataclass
class Release:
    """The chart installed on the node, shipping into the real Elasticsearch."""

    cluster: Cluster
    name: str
    namespace: str
    home: Path
    es: Peer
    values: list[str]
    install: subprocess.CompletedProcess[str]
    install_seconds: float
    notes: dict[str, Any] = field(default_factory=dict)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return helm(self.cluster, self.home, *args, check=check)


def create_namespace(cluster: Cluster, prefix: str, labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.request("POST", "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
    return name


def elasticsearch_service(cluster: Cluster, ns: str, es: Peer) -> str:
    """A Service without selector whose EndpointSlice points at the node IP, where a forwarder reaches the
    Elasticsearch peer on loopback; returns the in-cluster URL."""
    port = cluster.expose(es.ports["http"])
    cluster.request("POST", f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "elasticsearch"},
        "spec": {"ports": [{"name": "http", "port": 9200, "targetPort": port, "protocol": "TCP"}]}})
    cluster.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "elasticsearch-1", "labels": {"kubernetes.io/service-name": "elasticsearch"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [cluster.node_ip], "conditions": {"ready": True}}]})
    return f"http://elasticsearch.{ns}.svc:9200"


@pytest.fixture(scope="session")
def release(node_cluster: Cluster, node_images: NodeImages, elasticsearch: Peer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """`helm install --wait` of the default chart, with the local image and Elasticsearch set."""
    ns = create_namespace(node_cluster, "observe", RELEASE_NS_LABELS)
    es_url = elasticsearch_service(node_cluster, ns, elasticsearch)
    repo, _, tag = node_images.observe.ref.rpartition(":")
    values = ["--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
              "--set", f"elasticsearch.url={es_url}",
              # Probes go to in-cluster Services by name only, resolved inside the service range.
              "--set-json", 'probeExporter.config={"allow_dns_suffixes":[".svc"],"allow_cidrs":["198.19.0.0/16"]}']
    home = tmp_path_factory.mktemp("node-helm")
    name = "observe"
    t0 = time.monotonic()
    out = helm(node_cluster, home, "install", name, str(chart.CHART), "-n", ns, *values, "--wait", "--timeout", "5m")
    rel = Release(node_cluster, name, ns, home, elasticsearch, values, out, time.monotonic() - t0)
    try:
        yield rel
    finally:
        rel.helm("uninstall", name, "-n", ns, "--wait", check=False)


# --- Kubernetes and Elasticsearch helpers the tests share --------------------------------------------------------

def pods(cluster: Cluster, ns: str, selector: str = "") -> list[dict[str, Any]]:
    q = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
    return list(cluster.get(f"/api/v1/namespaces/{ns}/pods{q}")["items"])


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def wait_for(check: Any, timeout: float, what: str, on_fail: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{on_fail()}")


def es_request(es: Peer, method: str, path: str, body: Any = None) -> Any:
    """A JSON request to the Elasticsearch peer (None on 404)."""
    return es_json(es.url, method, path, body)


def docs(es: Peer, ns: str, pod: str | None = None) -> list[dict[str, Any]]:
    """Every shipped document of a namespace (optionally one pod), read with a scroll."""
    if es_request(es, "POST", f"/{DATA_STREAM}/_refresh") is None:
        return []
    filters: list[dict[str, Any]] = [{"term": {"kubernetes.namespace": ns}}]
    if pod:
        filters.append({"term": {"kubernetes.pod.name": pod}})
    got = es_request(es, "POST", f"/{DATA_STREAM}/_search?scroll=1m",
                     {"size": 5000, "sort": ["_doc"], "query": {"bool": {"filter": filters}}})
    out: list[dict[str, Any]] = []
    while got and got["hits"]["hits"]:
        out.extend({"_id": h["_id"], **h["_source"]} for h in got["hits"]["hits"])
        got = es_request(es, "POST", "/_search/scroll", {"scroll": "1m", "scroll_id": got["_scroll_id"]})
    if got and "_scroll_id" in got:
        es_request(es, "DELETE", "/_search/scroll", {"scroll_id": got["_scroll_id"]})
    return out


def count(es: Peer, ns: str, pod: str | None = None) -> int:
    if es_request(es, "POST", f"/{DATA_STREAM}/_refresh") is None:
        return 0
    filters: list[dict[str, Any]] = [{"term": {"kubernetes.namespace": ns}}]
    if pod:
        filters.append({"term": {"kubernetes.pod.name": pod}})
    got = es_request(es, "POST", f"/{DATA_STREAM}/_count", {"query": {"bool": {"filter": filters}}})
    return int(got["count"]) if got else 0


def workload(ns: str, name: str, image: str, args: list[str], *, kind: str = "Deployment",
             labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
             grace: int = 30) -> dict[str, Any]:
    """A Deployment (or bare Pod) running the log writer, restricted-profile clean."""
    labels = {"app": name, **(labels or {})}
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": grace, "enableServiceLinks": False, "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "writer", "image": image, "imagePullPolicy": "Never", "args": args,
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "state", "mountPath": "/state"}]}],
        "volumes": [{"name": "state", "emptyDir": {}}],
    }
    meta = {"labels": labels, "annotations": annotations or {}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, **meta}, "spec": spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": meta, "spec": spec}}}
