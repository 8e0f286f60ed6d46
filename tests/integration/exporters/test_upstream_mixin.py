"""Drop-in for the kubernetes-mixin: every kube_* family that upstream's rendered rules read (facts recorded in
tests/upstream/kubernetes_mixin.yaml), and every one our own rendered rules and dashboards read, exists in the
cluster exporter's live output on a seeded real kube-apiserver, with every label those queries filter or group on."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporters.cluster.service import ClusterService
from exporters.config import ClusterExporterConfig
from observe.config import KubeConfig, ServiceConfig
from observe.service import ServiceHost
from tests.integration.render.cluster_seed import seed
from tests.peers.base import Peer
from tests.peers.kube import kube_request
from tests.upstream.promql_labels import merge

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
UPSTREAM = yaml.safe_load((REPO / "tests" / "upstream" / "kubernetes_mixin.yaml").read_text())
SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')


def _seed_more(kube: Peer, ns: str) -> None:
    """What cluster_seed leaves out and the mixin reads: node roles, a failed job with completions, a labelled
    claim excluded from alerts, a volume phase, an evicted pod."""
    kube_request(kube, "POST", "/api/v1/nodes", {"metadata": {"name": f"node-{ns}-cp", "labels": {
        "node-role.kubernetes.io/control-plane": ""}}})
    batch = f"/apis/batch/v1/namespaces/{ns}"
    kube_request(kube, "POST", f"{batch}/jobs", {"metadata": {"name": "broken"}, "spec": {
        "completions": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "app", "image": "registry.test/app:1"}]}}}})
    kube_request(kube, "PATCH", f"{batch}/jobs/broken/status", {"status": {
        "failed": 3, "startTime": "2024-05-01T12:00:00Z", "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}})
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
        "metadata": {"name": "scratch", "labels": {"excluded_from_alerts": "true"}},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}}})
    kube_request(kube, "PATCH", f"/api/v1/persistentvolumes/pv-{ns}/status", {"status": {"phase": "Bound"}})
    kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "evicted"}, "spec": {
        "containers": [{"name": "app", "image": "registry.test/app:1",  # the seeded quota asks for requests
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})
    kube_request(kube, "PATCH", f"/api/v1/namespaces/{ns}/pods/evicted/status", {"status": {
        "phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}})


@pytest.fixture
async def exposition(kube_apiserver: Peer, kube_namespace: str) -> AsyncIterator[dict[str, list[set[str]]]]:
    """The seeded cluster as the exporter shows it: {family: [label names of each series]}."""
    await asyncio.to_thread(seed, kube_apiserver, kube_namespace)
    await asyncio.to_thread(_seed_more, kube_apiserver, kube_namespace)
    registry = CollectorRegistry()
    kube = KubeConfig(kubeconfig=Path(str(kube_apiserver.extra["kubeconfig"])))  # type: ignore[call-arg]
    config = ClusterExporterConfig(metric_labels_allowlist="persistentvolumeclaims=[excluded_from_alerts]")  # type: ignore[call-arg]
    svc = ClusterService(config, kube, registry)
    host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
    await host.start()
    try:
        assert await svc.wait_synced(60), svc.readiness()
        await asyncio.sleep(1)  # watch events of the last objects
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{host.port}/metrics") as r:
            body = await r.text()
        series: dict[str, list[set[str]]] = {}
        for line in body.splitlines():
            m = SERIES.match(line)
            if m and not line.startswith("#") and (f'namespace="{kube_namespace}"' in line or "namespace=" not in line):
                series.setdefault(m.group(1), []).append(set(LABEL.findall(m.group(2) or "")))
        yield series
    finally:
        await host.shutdown()


def _missing(wanted: dict[str, Any], series: dict[str, list[set[str]]]) -> list[str]:
    problems = []
    for family, labels in sorted(wanted.items()):
        if family not in series:
            problems.append(f"{family}: no series")
            continue
        for label in sorted(labels):
            if not any(label in s for s in series[family]):
                problems.append(f"{family}: no series has label {label!r}")
    return problems


async def test_every_upstream_mixin_family_and_label_is_exposed(exposition: dict[str, list[set[str]]]) -> None:
    wanted = {f: set(spec["labels"]) for f, spec in UPSTREAM["families"].items()}
    assert len(wanted) >= 49
    assert all(set(spec["sources"]) <= UPSTREAM["sources"].keys() for spec in UPSTREAM["families"].values())
    assert _missing(wanted, exposition) == []


def _own_queries() -> list[str]:
    files = REPO / "helm" / "observe" / "files"
    exprs: list[str] = []
    for path in sorted((files / "rules").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [rule["expr"] for rule in group["rules"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query") and isinstance(value, str):
                    exprs.append(value)
                elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                    exprs.append(value["query"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted((files / "dashboards").glob("*.json")):
        walk(json.loads(path.read_text()))
    # Grafana variables and intervals are not PromQL: make them plain values.
    return [re.sub(r"\$__\w+|\$\{?\w+\}?", "x", e).replace("label_values(", "max(") for e in exprs]


async def test_our_rendered_rules_and_dashboards_find_their_series(exposition: dict[str, list[set[str]]]) -> None:
    wanted = await asyncio.to_thread(lambda: merge(_own_queries()))  # CPU work off the loop
    assert "kube_pod_container_resource_requests" in wanted, sorted(wanted)
    assert _missing(wanted, exposition) == []
