"""Cluster state at scale, sharded (issue 16 part 2): BENCH_SCALE_PODS pods (default 150,000) with the deployments,
replicasets, nodes and namespaces they imply (bench/scale_seed.py) in a real kube-apiserver; `observe export cluster`
run as its own process unsharded and as 4 UID-hash shards, all at once against the same API server.

Long, so not part of `python -m bench` without a name: `make bench-scale` (BENCH_SCALE_PODS=20000 make bench-scale
for a shorter run). Per process: initial sync (process start until /readyz answers 200, polled every 100 ms), scrape
p50/p99 over SCRAPES scrapes, CPU ms per scrape, RSS after the scrapes and its peak; and the check that the union of
the shards' series (kube-state-metrics' and observe's own series left out) equals the unsharded output exactly.
Also what etcd and the API server hold afterwards: their RSS and etcd's database size.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.bench_cluster_exporter import _client, _get, _status_mib
from bench.procfs import cpu_s
from bench.scale_seed import Shape, seed
from tests.integration.exporters.checks import samples
from tests.peers import kube
from tests.peers.base import Peer, free_port

PODS = int(os.environ.get("BENCH_SCALE_PODS", "150000"))
SHARDS = 4
SCRAPES = 20
RESOURCES = "pods,replicasets,deployments,nodes,namespaces"
SELF = ("kube_state_metrics_", "observe_")


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _start(peer: Peer, shard: int, total: int) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "observe"), "export", "cluster", "--kubeconfig",
            str(peer.extra["kubeconfig"]), "--port", str(port), "--resources", RESOURCES,
            "--shard", str(shard), "--total-shards", str(total)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port, time.monotonic()


def _wait_synced(procs: dict[str, tuple[subprocess.Popen[bytes], int, float]]) -> dict[str, float]:
    """Seconds from each process's start until its /readyz first answered 200 (all polled together)."""
    synced: dict[str, float] = {}
    while len(synced) < len(procs):
        for name, (proc, port, started) in procs.items():
            if name in synced:
                continue
            if _ready(port):
                synced[name] = time.monotonic() - started
            elif proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            elif time.monotonic() - started > 1800:
                raise RuntimeError(f"{name} did not sync in 1800 s")
        time.sleep(0.1)
    return synced


def _measure(proc: subprocess.Popen[bytes], port: int, sync: float) -> tuple[dict[str, Any], dict[str, float]]:
    url = f"http://127.0.0.1:{port}/metrics"
    cpu0, latencies, body = cpu_s(proc.pid), [], b""
    for _ in range(SCRAPES):
        t = time.monotonic()
        body = _get(url, timeout=300)
        latencies.append(time.monotonic() - t)
    latencies.sort()
    values = {k: v for k, v in samples(body).items() if not k.startswith(SELF)}
    return {"sync_seconds": round(sync, 2), "series": len(values), "bytes": len(body), "scrapes": SCRAPES,
            "scrape_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "scrape_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
            "cpu_ms_per_scrape": round((cpu_s(proc.pid) - cpu0) / SCRAPES * 1000, 1),
            "rss_mib": _status_mib(proc.pid, "VmRSS"), "peak_rss_mib": _status_mib(proc.pid, "VmHWM")}, values


def _etcd_db_mib(peer: Peer) -> float:
    etcd = peer.extra["etcd"]
    assert isinstance(etcd, Peer)
    req = urllib.request.Request(f"{etcd.url}/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return round(int(json.loads(r.read())["dbSize"]) / 2**20, 1)


async def _seed(peer: Peer, pods: int) -> dict[str, Any]:
    client = await _client(peer)
    try:
        return await seed(client, Shape(pods), concurrency=16, show_progress=sys.stderr.isatty())
    finally:
        await client.close()


def run(results_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        peer = kube.start(Path(tmp) / "kube")
        try:
            seeded = asyncio.run(_seed(peer, PODS))
            procs = {"unsharded": _start(peer, 0, 1), **{f"shard_{i}": _start(peer, i, SHARDS) for i in range(SHARDS)}}
            figures: dict[str, Any] = {}
            series: dict[str, dict[str, float]] = {}
            try:
                synced = _wait_synced(procs)
                for name, (proc, port, _) in procs.items():
                    figures[name], series[name] = _measure(proc, port, synced[name])
            finally:
                for proc, _, _ in procs.values():
                    proc.terminate()
                    proc.wait(30)
            whole = series.pop("unsharded")
            union: dict[str, float] = {}
            overlap = 0
            for part in series.values():
                overlap += len(set(union) & set(part))
                union |= part
            check = {"unsharded_series": len(whole), "union_series": len(union), "overlapping_series": overlap,
                     "missing_from_union": len(set(whole) - set(union)), "extra_in_union": len(set(union) - set(whole)),
                     "different_values": sum(1 for k in set(whole) & set(union) if whole[k] != union[k])}
            if union != whole or overlap:
                raise AssertionError(f"the shards' union differs from the unsharded output: {check}")
            engines = {"etcd_db_mib": _etcd_db_mib(peer)}
        finally:
            kube.stop(peer)
    result = {"pods": PODS, "seed": seeded, "shards": SHARDS, "resources": RESOURCES, "exporters": figures,
              "union_equals_unsharded": check, "engines": engines,
              "note": "all five exporters run at once on the same machine as the API server and etcd"}
    results_dir.mkdir(parents=True, exist_ok=True)
    return result


if __name__ == "__main__":
    print(json.dumps(run(Path(__file__).parent / "results"), indent=2))
