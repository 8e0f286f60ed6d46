"""Issue 16 part 2, reduced: thousands of pods (bench/scale_seed.py) in the real kube-apiserver; the cluster exporter
as 4 UID-hash shards and unsharded; the union of the shards equals the unsharded output, series for series.
Per shard it prints initial sync time and scrape p50/p99 (all five run in this one process, so RSS is the process's).
The full 150,000-pod form is `make bench-scale` (bench/bench_scale.py)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bench.scale_seed import SEED_LABEL, Shape, delete, seed
from exporters.cluster.service import ClusterService
from exporters.config import ClusterExporterConfig
from observe.config import KubeConfig, ServiceConfig
from observe.kube import KubeClient
from observe.service import ServiceHost
from tests.integration.exporters.checks import samples
from tests.integration.exporters.test_cluster_exporter import kube, scrape  # noqa: F401 (fixture)
from tests.peers.base import Peer

PODS = 1_500  # 2,000 took 78 s here at load 12 (47 s of it the API server creating objects)
SHARDS = 4
RESOURCES = ["pods", "replicasets", "deployments", "nodes", "namespaces"]
SELF = ("kube_state_metrics_", "observe_")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _check_union(bodies: dict[str, dict[str, float]], shape: Shape) -> None:
    """The shards own disjoint series whose union is the unsharded output: names, labels and values."""
    whole = bodies.pop("unsharded")
    mine = [k for k in whole if k.startswith("kube_pod_info{") and f'namespace="{shape.prefix}-' in k]
    assert len(mine) == PODS
    union: dict[str, float] = {}
    for name, part in bodies.items():
        assert part, f"{name} owns nothing"
        overlap = set(union) & set(part)
        assert not overlap, f"{name} repeats {sorted(overlap)[:5]}"
        union |= part
    assert set(whole) - set(union) == set() and set(union) - set(whole) == set()
    assert union == whole


@pytest.mark.allow_blocking("the reflector decodes each 500-object LIST page in one callback: at 2,000 pods the "
                             "guard saw 0.10 s CPU for one pod page under load (observe/kube/reflector.py _list)")
async def test_four_shards_union_equals_unsharded(kube: KubeClient, kube_apiserver: Peer,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    shape = Shape(PODS, prefix=f"sc-{uuid.uuid4().hex[:6]}")
    try:
        await _four_shards(kube, kube_apiserver, capsys, shape)
    finally:
        # The API server is shared by the session: other tests' exporters list every pod, and should not list ours.
        await delete(kube, shape)
    left = await kube.request("GET", "/api/v1/pods", params={"labelSelector": f"{SEED_LABEL}={shape.prefix}"})
    assert left["items"] == []


async def _four_shards(kube: KubeClient, kube_apiserver: Peer, capsys: pytest.CaptureFixture[str],  # noqa: F811
                       shape: Shape) -> None:
    # As an interrupted run leaves them: a namespace, and a pod created whose status was never written.
    label = {SEED_LABEL: shape.prefix}
    ns = shape.namespace_of(0)
    await kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns, "labels": label}})
    await kube.request("POST", f"/api/v1/namespaces/{ns}/pods", body={
        "metadata": {"name": "d0-rs-0", "labels": {**label, "app": "d0"}},
        "spec": {"nodeName": f"{shape.prefix}-node-0", "containers": [{"name": "app", "image": "registry.local/app:1"}]}})
    seeded = await seed(kube, shape, concurrency=32, show_progress=False)
    assert seeded["stats"]["pods"] == {"created": PODS - 1, "skipped": 0, "status_only": 1}
    assert seeded["stats"]["namespaces"] == {"created": shape.namespaces - 1, "skipped": 1, "status_only": 0}
    pod = await kube.request("GET", f"/api/v1/namespaces/{ns}/pods/d0-rs-0")
    assert pod["status"]["phase"] == "Running" and pod["status"]["containerStatuses"][0]["ready"]
    # Resumable: a second run finds everything and creates nothing.
    again = await seed(kube, shape, concurrency=32, show_progress=False)
    assert again["stats"]["pods"] == {"created": 0, "skipped": PODS, "status_only": 0}
    assert again["stats"]["nodes"]["skipped"] == shape.nodes

    rss0 = _rss_mib()
    hosts: list[ServiceHost] = []
    figures: dict[str, dict[str, float]] = {}
    try:
        bases: dict[str, str] = {}
        for name, shard, total in [("unsharded", 0, 1), *((f"shard-{i}", i, SHARDS) for i in range(SHARDS))]:
            registry = CollectorRegistry()
            cfg = KubeConfig(kubeconfig=Path(str(kube_apiserver.extra["kubeconfig"])))  # type: ignore[call-arg]
            svc = ClusterService(ClusterExporterConfig(resources=RESOURCES, shard=shard, total_shards=total),
                                 cfg, registry)
            host = ServiceHost(ServiceConfig(port=0), [svc], registry)  # type: ignore[call-arg]
            t = time.monotonic()
            await host.start()
            hosts.append(host)
            assert await svc.wait_synced(120), svc.readiness()
            figures[name] = {"sync_s": round(time.monotonic() - t, 2)}
            bases[name] = f"http://127.0.0.1:{host.port}"

        bodies: dict[str, dict[str, float]] = {}
        for name, base in bases.items():
            latencies = []
            for _ in range(10):
                t = time.monotonic()
                body = await scrape(base)
                latencies.append(time.monotonic() - t)
            latencies.sort()
            values = await asyncio.to_thread(samples, body)  # 60,000 series: parsed off the exporters' loop
            bodies[name] = {k: v for k, v in values.items() if not k.startswith(SELF)}
            figures[name] |= {"scrape_p50_ms": round(statistics.median(latencies) * 1000, 1),
                              "scrape_p99_ms": round(latencies[-1] * 1000, 1), "series": len(bodies[name])}
            if name != "unsharded":
                assert values[f'kube_state_metrics_shard_ordinal{{shard_ordinal="{name[-1]}"}}'] == int(name[-1])
                assert values["kube_state_metrics_total_shards"] == SHARDS
        rss = _rss_mib()
    finally:
        await asyncio.gather(*(h.shutdown() for h in hosts))

    await asyncio.to_thread(_check_union, bodies, shape)
    with capsys.disabled():
        print(f"\n{PODS} pods, {shape.deployments} deployments+replicasets, {shape.nodes} nodes, "
              f"{shape.namespaces} namespaces: seeded in {seeded['seconds']} s, resumed (nothing to do) in "
              f"{again['seconds']} s")
        for name, f in figures.items():
            print(f"  {name:>9}: {f}")
        print(f"  RSS of this process (5 exporters + test): {rss:.0f} MiB, {rss - rss0:+.0f} MiB for the exporters")
