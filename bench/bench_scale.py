"""Cluster state at scale, sharded, side by side with kube-state-metrics (issue 16 part 2).

BENCH_SCALE_PODS pods (default 150,000) with the deployments, replicasets, nodes and namespaces they imply
(bench/scale_seed.py) in a real kube-apiserver. Then two groups of five processes against that same API server, one
group after the other so that they never share the 2 cores: first `observe export cluster` unsharded plus 4 UID-hash
shards, all five started at once; once all five are measured they are stopped, and kube-state-metrics (when built,
tests/peers/kube_state_metrics.py) runs the same way: unsharded plus `--shard=i --total-shards=4`, restricted to the
same `--resources`, with its default families on both sides (no allowlists).

Long, so not part of `python -m bench` without a name: `make bench-scale` (BENCH_SCALE_PODS=20000 make bench-scale
for a shorter run). Per process:
- initial sync: from just before the process is spawned until the start of the first probe that finds the complete
  first LIST of pods served. A probe streams GET /metrics and counts `kube_pod_info` series, stopping early once it
  has them all; "all" is the number of pods the process owns, computed before the group starts by listing every
  pod's UID from the API server and applying the shard rule (exporters/cluster/shard.py; the unsharded process owns
  every pod). Each process has its own prober thread, starting a probe every SYNC_POLL_SECONDS or as soon as the
  previous one ended, so the resolution is one probe (a partly synced process answers slowly: it is busy; serving
  the probes is part of its sync CPU). The same probe, and nothing else, for both exporters: readiness endpoints
  are not comparable (kube-state-metrics' /readyz, on its telemetry port, answers 200 once its own registry has any
  metric, not once its LIST is in);
- scrape p50/p99 over SCRAPES back-to-back scrapes once the whole group has synced, CPU ms per scrape (user plus
  system, /proc/PID/stat), RSS after the scrapes and its peak (VmRSS, VmHWM), and CPU seconds spent until synced.
Per group: the API server's and etcd's CPU seconds from the group's start until its last process synced, and the
1-minute load average at both ends. Checks: the union of observe's shards equals its unsharded output exactly
(kube-state-metrics' and observe's self series left out; the bench fails otherwise); the same for kube-state-metrics'
shards (reported); kube-state-metrics' shard i and observe's shard i serve `kube_pod_info` for the same
(namespace, pod) set (reported); and, for every metric name both unsharded processes serve, the two series counts
(reported where they differ). Also etcd's database size afterwards, and the ratios observe / kube-state-metrics.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_cluster_exporter import _client, _get, _status_mib, ksm_argv, ksm_binary, pods_served
from bench.procfs import cpu_s
from bench.scale_seed import Seeder, Shape, seed
from exporters.cluster.shard import shard_of
from tests.integration.exporters.checks import samples
from tests.peers import kube
from tests.peers.base import Peer, free_port

PODS = int(os.environ.get("BENCH_SCALE_PODS", "150000"))
SHARDS = 4
SCRAPES = 20
RESOURCES = "pods,replicasets,deployments,nodes,namespaces"
SELF = ("kube_state_metrics_", "observe_")
SYNC_POLL_SECONDS = 0.1
SYNC_TIMEOUT_SECONDS = 1800
STALL_SECONDS = 60
# (name, --shard, --total-shards) of the five processes of a group.
LAYOUT = [("unsharded", 0, 1), *((f"shard_{i}", i, SHARDS) for i in range(SHARDS))]
RATIOS = ("series", "sync_seconds", "scrape_p50_ms", "scrape_p99_ms", "rss_mib", "cpu_ms_per_scrape")
_NAMESPACE, _POD = re.compile(r'[{,]namespace="([^"]*)"'), re.compile(r'[{,]pod="([^"]*)"')

Argv = Callable[[int, int, int], list[str]]  # (port, shard, total) -> command line


@dataclass
class _Process:
    proc: subprocess.Popen[bytes]
    port: int
    started: float
    pods: int  # kube_pod_info series it serves once synced
    sync: dict[str, float] = field(default_factory=dict)


@dataclass
class _Group:
    """What one exporter's five processes measured, reduced to what the comparisons need."""

    figures: dict[str, dict[str, Any]]
    engines: dict[str, Any]
    union: dict[str, int]
    pods: dict[str, set[tuple[str, str]]]  # process -> (namespace, pod) of its kube_pod_info series
    names: Counter[str]  # series per metric name, unsharded


def _observe(port: int, shard: int, total: int, kubeconfig: str) -> list[str]:
    return [str(Path(sys.executable).parent / "observe"), "export", "cluster", "--kubeconfig", kubeconfig,
            "--port", str(port), "--resources", RESOURCES, "--shard", str(shard), "--total-shards", str(total)]


def _wait_synced(name: str, p: _Process) -> None:
    """Probe one process until it serves all its pods (module docstring); each process has its own thread.

    A process whose count stops short of what the shard rule gives it (a different assignment) for STALL_SECONDS
    is taken as synced at the probe that first saw that count, marked `sync_complete: false`.
    """
    seen = (-1, 0.0, 0.0)  # (count, first probe that saw it, CPU then)
    probes = 0
    while True:
        probe = time.monotonic()
        probes += 1
        count = pods_served(p.port, p.pods)
        if count >= p.pods:
            p.sync = {"sync_seconds": round(probe - p.started, 2), "sync_cpu_s": round(cpu_s(p.proc.pid), 2),
                      "sync_probes": probes}
            return
        if p.proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.proc.returncode}")
        if probe - p.started > SYNC_TIMEOUT_SECONDS:
            raise RuntimeError(f"{name} served {count} of its {p.pods} pods after {SYNC_TIMEOUT_SECONDS} s")
        if count != seen[0]:
            seen = (count, probe, cpu_s(p.proc.pid))
        elif count and probe - seen[1] > STALL_SECONDS:
            p.sync = {"sync_seconds": round(seen[1] - p.started, 2), "sync_cpu_s": round(seen[2], 2),
                      "sync_probes": probes, "sync_complete": False, "pods_served": count}
            return
        time.sleep(max(0.0, probe + SYNC_POLL_SECONDS - time.monotonic()))


def _measure(p: _Process) -> tuple[dict[str, Any], dict[str, float]]:
    url = f"http://127.0.0.1:{p.port}/metrics"
    cpu0, latencies, body = cpu_s(p.proc.pid), [], b""
    for _ in range(SCRAPES):
        t = time.monotonic()
        body = _get(url, timeout=300)
        latencies.append(time.monotonic() - t)
    latencies.sort()
    values = {k: v for k, v in samples(body).items() if not k.startswith(SELF)}
    return {**p.sync, "series": len(values), "bytes": len(body), "scrapes": SCRAPES,
            "scrape_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "scrape_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
            "cpu_ms_per_scrape": round((cpu_s(p.proc.pid) - cpu0) / SCRAPES * 1000, 1),
            "rss_mib": _status_mib(p.proc.pid, "VmRSS"), "peak_rss_mib": _status_mib(p.proc.pid, "VmHWM")}, values


def pods_of(series: dict[str, float]) -> set[tuple[str, str]]:
    """(namespace, pod) of every kube_pod_info series."""
    out = set()
    for key in series:
        if key.startswith("kube_pod_info{"):
            ns, pod = _NAMESPACE.search(key), _POD.search(key)
            if ns and pod:
                out.add((ns[1], pod[1]))
    return out


def union_check(whole: dict[str, float], parts: list[dict[str, float]]) -> dict[str, int]:
    """How the union of the shards' series compares with the unsharded series, name, labels and value."""
    union: dict[str, float] = {}
    overlap = 0
    for part in parts:
        overlap += len(union.keys() & part.keys())
        union |= part
    return {"unsharded_series": len(whole), "union_series": len(union), "overlapping_series": overlap,
            "missing_from_union": len(whole.keys() - union.keys()), "extra_in_union": len(union.keys() - whole.keys()),
            "different_values": sum(1 for k in whole.keys() & union.keys() if whole[k] != union[k])}


def _load(triple: tuple[float, float, float]) -> dict[str, float]:
    """os.getloadavg() with names, so that the docs can quote each figure."""
    return {k: round(v, 2) for k, v in zip(("one_minute", "five_minutes", "fifteen_minutes"), triple, strict=True)}


def _group(peer: Peer, argv: Argv, owned: dict[str, int]) -> _Group:
    """Start the five processes at once, wait until all have synced, scrape each in turn, stop them."""
    etcd_peer = peer.extra["etcd"]
    assert isinstance(etcd_peer, Peer)
    api, etcd = peer.proc.pid, etcd_peer.proc.pid
    load0, api0, etcd0, t0 = os.getloadavg(), cpu_s(api), cpu_s(etcd), time.monotonic()
    procs: dict[str, _Process] = {}
    try:
        for name, shard, total in LAYOUT:
            port = free_port()
            started = time.monotonic()
            popen = subprocess.Popen(argv(port, shard, total), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs[name] = _Process(popen, port, started, owned[name])
        with ThreadPoolExecutor(len(procs)) as pool:  # one prober per process: a slow answer delays no other
            for done in [pool.submit(_wait_synced, name, p) for name, p in procs.items()]:
                done.result()
        engines = {"apiserver_cpu_s_during_sync": round(cpu_s(api) - api0, 2),
                   "etcd_cpu_s_during_sync": round(cpu_s(etcd) - etcd0, 2),
                   "seconds_until_all_synced": round(time.monotonic() - t0, 2)}
        figures, series = {}, {}
        for name, p in procs.items():
            figures[name], series[name] = _measure(p)
    finally:
        for p in procs.values():
            p.proc.terminate()
            p.proc.wait(30)
    engines["load_at_start"], engines["load_at_end"] = _load(load0), _load(os.getloadavg())
    whole = series.pop("unsharded")
    return _Group(figures, engines, union_check(whole, list(series.values())),
                  {"unsharded": pods_of(whole), **{n: pods_of(s) for n, s in series.items()}},
                  Counter(k.split("{", 1)[0] for k in whole))


def _assignment(ours: _Group, theirs: _Group) -> dict[str, Any]:
    """Shard by shard, whether both exporters' shard i serve kube_pod_info for the same pods."""
    shards = {}
    for name, _, _ in LAYOUT[1:]:
        a, b = ours.pods[name], theirs.pods[name]
        shards[name] = {"observe_pods": len(a), "kube_state_metrics_pods": len(b),
                        "only_observe": len(a - b), "only_kube_state_metrics": len(b - a)}
    equal = all(ours.pods[n] == theirs.pods[n] for n, _, _ in LAYOUT)
    return {"equal": equal, "pods_compared": len(ours.pods["unsharded"] | theirs.pods["unsharded"]), "shards": shards}


def name_counts_diff(ours: Counter[str], theirs: Counter[str]) -> dict[str, Any]:
    """Series counts per metric name both serve unsharded; the names where they differ, and names one side lacks."""
    both = sorted(ours.keys() & theirs.keys())
    differ = {n: {"observe": ours[n], "kube_state_metrics": theirs[n]} for n in both if ours[n] != theirs[n]}
    return {"names_compared": len(both), "names_equal": len(both) - len(differ), "names_differing": len(differ),
            "differing": differ, "only_observe": sorted(ours.keys() - theirs.keys()),
            "only_kube_state_metrics": sorted(theirs.keys() - ours.keys())}


def _ratios(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {name: {k: round(ours[name][k] / theirs[name][k], 2) for k in RATIOS if theirs[name].get(k)}
            for name in ours}


def _etcd_db_mib(peer: Peer) -> float:
    etcd = peer.extra["etcd"]
    assert isinstance(etcd, Peer)
    req = urllib.request.Request(f"{etcd.url}/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return round(int(json.loads(r.read())["dbSize"]) / 2**20, 1)


async def _seed(peer: Peer, pods: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Seed, then list every pod's UID: how many pods each process of a group owns."""
    client = await _client(peer)
    try:
        seeded = await seed(client, Shape(pods), concurrency=16, show_progress=sys.stderr.isatty())
        uids = [p["uid"] for p in (await Seeder(client, Shape(pods)).existing("/api/v1/pods")).values()]
    finally:
        await client.close()
    per_shard = Counter(shard_of(uid, SHARDS) for uid in uids)
    return seeded, {"unsharded": len(uids), **{f"shard_{i}": per_shard[i] for i in range(SHARDS)}}


def run(results_dir: Path) -> dict[str, Any]:
    """Seed, measure observe's group then kube-state-metrics', compare them; the result is written by bench/__main__."""
    results_dir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    ksm = ksm_binary()
    with tempfile.TemporaryDirectory() as tmp:
        peer = kube.start(Path(tmp) / "kube")
        try:
            kubeconfig = str(peer.extra["kubeconfig"])
            seeded, owned = asyncio.run(_seed(peer, PODS))
            ours = _group(peer, lambda port, shard, total: _observe(port, shard, total, kubeconfig), owned)
            if ours.union["unsharded_series"] != ours.union["union_series"] or any(
                    ours.union[k] for k in ("overlapping_series", "missing_from_union", "extra_in_union",
                                            "different_values")):
                raise AssertionError(f"the shards' union differs from the unsharded output: {ours.union}")
            theirs: _Group | str = "not built (python -m tests.peers install kube_state_metrics)"
            if ksm is not None:
                time.sleep(5)  # let the stopped group's exit settle before the next one starts
                try:
                    theirs = _group(peer, lambda port, shard, total: ksm_argv(
                        ksm, peer, port, f"--resources={RESOURCES}", f"--shard={shard}", f"--total-shards={total}"),
                        owned)
                except RuntimeError as exc:  # keep observe's figures; say what went wrong on the other side
                    theirs = f"failed: {exc}"
            engines = {"etcd_db_mib": _etcd_db_mib(peer),
                       "apiserver_rss_mib": _status_mib(peer.proc.pid, "VmRSS"),
                       "apiserver_cpu_s_during_sync": {"observe": ours.engines["apiserver_cpu_s_during_sync"]},
                       "etcd_cpu_s_during_sync": {"observe": ours.engines["etcd_cpu_s_during_sync"]},
                       "seconds_until_all_synced": {"observe": ours.engines["seconds_until_all_synced"]}}
        finally:
            kube.stop(peer)
    load = {"at_start": _load(load_start), "at_end": _load(os.getloadavg()),
            "observe_group": {k: ours.engines[k] for k in ("load_at_start", "load_at_end")}}
    result: dict[str, Any] = {
        "pods": PODS, "seed": seeded, "shards": SHARDS, "resources": RESOURCES, "pods_owned": owned,
        "exporters": ours.figures, "union_equals_unsharded": ours.union, "engines": engines, "load": load,
        "note": "the five observe processes ran at once, then (after they stopped) the five kube-state-metrics "
                "processes, each group on the same 2 cores as the API server and etcd"}
    if isinstance(theirs, str):
        result["kube_state_metrics"] = theirs
        return result
    for key in ("apiserver_cpu_s_during_sync", "etcd_cpu_s_during_sync", "seconds_until_all_synced"):
        engines[key]["kube_state_metrics"] = theirs.engines[key]
        if theirs.engines[key]:
            engines[key]["ratio_observe_over_ksm"] = round(ours.engines[key] / theirs.engines[key], 2)
    load["kube_state_metrics_group"] = {k: theirs.engines[k] for k in ("load_at_start", "load_at_end")}
    result.update({
        "kube_state_metrics": theirs.figures, "kube_state_metrics_union_equals_unsharded": theirs.union,
        "ratios_observe_over_ksm": _ratios(ours.figures, theirs.figures),
        "shard_assignment_equals_ksm": _assignment(ours, theirs),
        "series_diff": name_counts_diff(ours.names, theirs.names)})
    return result


if __name__ == "__main__":
    print(json.dumps(run(Path(__file__).parent / "results"), indent=2))
