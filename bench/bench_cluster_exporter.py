"""Cluster exporter at scale: 10,000 pods, 1,000 deployments and 100 nodes in a real kube-apiserver.

Measures, for `observe export cluster` run as its own process: initial sync time (process start until /metrics
serves every pod), scrape latency p50/p99 over repeated scrapes (the client reads the whole body), resident memory
(the larger of after sync and after the scrapes, plus the peak), and CPU seconds per scrape. When a
kube-state-metrics binary is in the peer cache (tests/peers/kube_state_metrics.py), it runs against the same API
server in the same run, restricted to the same resources and families, and the ratios are reported; it runs once
more with its defaults for reference.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.peers import kube
from tests.peers.base import Peer, free_port

PODS, DEPLOYMENTS, NODES = 10_000, 1_000, 100
NAMESPACES = 20
SCRAPES = 30


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(peer: Peer) -> None:
    """Create the objects with 16 requests in flight, pods already Running with status patched."""
    import aiohttp

    from observe.config import KubeConfig
    from observe.kube import KubeClient

    client = await KubeClient.from_config(KubeConfig(kubeconfig=Path(str(peer.extra["kubeconfig"]))))  # type: ignore[call-arg]
    sem = asyncio.Semaphore(16)

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        async with sem:
            for _ in range(5):
                try:
                    await client.request(method, path, body=body, seconds=60)
                    return
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.5)

    await asyncio.gather(*(call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                "metadata": {"name": f"bench-{i}"}})
                           for i in range(NAMESPACES)))
    await asyncio.gather(*(call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                           "metadata": {"name": f"bench-node-{i}"}})
                           for i in range(NODES)))
    tmpl = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "img:1"}]}}
    await asyncio.gather(*(call("POST", f"/apis/apps/v1/namespaces/bench-{i % NAMESPACES}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"d{i}"},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "a"}}, "template": tmpl}})
        for i in range(DEPLOYMENTS)))

    async def pod(i: int) -> None:
        ns = f"bench-{i % NAMESPACES}"
        await call("POST", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i}", "labels": {"app": f"d{i % DEPLOYMENTS}"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"d{i % DEPLOYMENTS}-rs",
                                              "uid": f"00000000-0000-0000-0000-{i % DEPLOYMENTS:012d}", "controller": True}]},
            "spec": {"nodeName": f"bench-node-{i % NODES}", "containers": [
                {"name": "app", "image": "img:1", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                "limits": {"memory": "128Mi"}}}]}})
        await call("PATCH", f"/api/v1/namespaces/{ns}/pods/p{i}/status", {"status": {
            "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.1", "startTime": "2024-05-01T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "image": "img:1", "imageID": "x",
                                   "containerID": "containerd://x", "state": {"running": {}}}]}})

    await asyncio.gather(*(pod(i) for i in range(PODS)))
    await client.close()


def _get(url: str, timeout: float = 60.0) -> bytes:
    req = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return bytes(r.read())


def _status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _synced(metrics_url: str, gate: Any) -> Any:
    """Synced = every pod's kube_pod_info is served (the same test for both exporters; KSM's /readyz only says that
    its registry is not empty). `gate` is a cheaper check to pass first, or None."""
    def check() -> bool:
        if gate is not None and not gate():
            return False
        try:
            return _get(metrics_url, timeout=30).count(b"\nkube_pod_info{") >= PODS
        except OSError:
            return False
    return check


def _measure(name: str, argv: list[str], metrics_url: str, synced: Any) -> dict[str, Any]:
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not synced():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            if time.monotonic() - start > 600:
                raise RuntimeError(f"{name} did not sync in 600 s")
            time.sleep(0.5)
        sync = time.monotonic() - start
        body = _get(metrics_url)
        series = sum(1 for line in body.split(b"\n") if line.startswith(b"kube_"))
        rss_sync = _status_mib(proc.pid, "VmRSS")
        cpu0 = _cpu(proc.pid)
        latencies = []
        for _ in range(SCRAPES):
            t = time.monotonic()
            _get(metrics_url)
            latencies.append(time.monotonic() - t)
        cpu = (_cpu(proc.pid) - cpu0) / SCRAPES
        latencies.sort()
        return {"sync_seconds": round(sync, 2), "kube_series": series, "bytes": len(body),
                "scrape_p50_ms": round(statistics.median(latencies) * 1000, 1),
                "scrape_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
                "rss_mib": max(rss_sync, _status_mib(proc.pid, "VmRSS")), "rss_after_sync_mib": rss_sync,
                "peak_rss_mib": _status_mib(proc.pid, "VmHWM"), "cpu_ms_per_scrape": round(cpu * 1000, 1)}
    finally:
        proc.terminate()
        proc.wait(20)


def _ready(url: str) -> Any:
    def check() -> bool:
        try:
            _get(url, timeout=2)
            return True
        except OSError:
            return False
    return check


def _ksm_binary() -> Path | None:
    try:
        from tests.peers import kube_state_metrics
    except ImportError:
        return None
    path = kube_state_metrics.binary_if_built()
    return Path(path) if path else None


def _ksm(ksm: Path, kubeconfig: str, *extra: str) -> dict[str, Any]:
    kport, tport = free_port(), free_port()
    argv = [str(ksm), f"--kubeconfig={kubeconfig}", "--host=127.0.0.1", f"--port={kport}",
            "--telemetry-host=127.0.0.1", f"--telemetry-port={tport}", *extra]
    url = f"http://127.0.0.1:{kport}/metrics"
    return _measure("kube-state-metrics", argv, url, _synced(url, None))


def run(results_dir: Path) -> dict[str, Any]:
    """Load the API server, measure our exporter (and kube-state-metrics when built), write the results."""
    from exporters.cluster.kinds import KINDS

    with tempfile.TemporaryDirectory() as tmp:
        peer = kube.start(Path(tmp) / "kube")
        try:
            t = time.monotonic()
            asyncio.run(_load(peer))
            load_s = time.monotonic() - t
            kubeconfig = str(peer.extra["kubeconfig"])
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            ours = _measure("observe", [str(Path(sys.executable).parent / "observe"), "export", "cluster",
                                        "--kubeconfig", kubeconfig, "--port", str(port)],
                            url, _synced(url, _ready(f"http://127.0.0.1:{port}/readyz")))
            result: dict[str, Any] = {"objects": {"pods": PODS, "deployments": DEPLOYMENTS, "nodes": NODES},
                                      "load_seconds": round(load_s, 1), "observe": ours}
            ksm = _ksm_binary()
            if ksm is None:
                result["kube_state_metrics"] = "not built (python -m tests.peers install kube_state_metrics)"
            else:
                # Like for like: the same resources and the same families as ours.
                # KSM's allowlist entries are regular expressions: anchored, or kube_pod_status_ready would also
                # let kube_pod_status_ready_time through.
                families = ",".join(f"^{f.name}$" for k in KINDS.values() for f in k.families)
                theirs = _ksm(ksm, kubeconfig, f"--resources={','.join(KINDS)}", f"--metric-allowlist={families}")
                result["kube_state_metrics"] = theirs
                result["ratios_observe_over_ksm"] = {
                    k: round(ours[k] / theirs[k], 2) for k in (
                        "scrape_p50_ms", "scrape_p99_ms", "rss_mib", "peak_rss_mib", "cpu_ms_per_scrape",
                        "sync_seconds") if theirs.get(k)}
                # For reference: kube-state-metrics as usually deployed (all its resources and families).
                result["kube_state_metrics_defaults"] = _ksm(ksm, kubeconfig)
        finally:
            kube.stop(peer)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "cluster_exporter.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(run(Path(__file__).parent / "results"), indent=2))
