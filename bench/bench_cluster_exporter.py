"""Cluster exporter at scale: 10,000 pods, 1,000 deployments (and their replicasets) and 100 nodes in a real
kube-apiserver, plus objects of every other resource the exporter supports, with statuses (bench/cluster_objects.py).

Measures, for `observe export cluster` run as its own process:
- initial sync: process start until a scrape serves every pod's kube_pod_info. The probe polls every 50 ms and
  reads each /metrics body as a stream, stopping as soon as the last pod's series is in (a not-yet-synced body is
  small), so its resolution is one poll, not one 30 MB download. With kube-state-metrics built, each exporter is
  started 1 + SYNC_ROUNDS times, alternating which goes first; the sync figures are the medians of its starts;
- scrape latency p50/p99 over repeated scrapes (the client reads the whole body), on an idle cache and again while
  CHURN_PER_S pod status updates per second arrive (each changes a series value);
- resident memory (the larger of after sync and after the scrapes, plus the peak) and CPU seconds per scrape;
- `one_core`: with kube-state-metrics built, the sync again with each exporter pinned to the same one CPU, and the
  floor of our start-up (a fresh interpreter importing only the exporter's third-party modules).
When a kube-state-metrics binary is in the peer cache (tests/peers/kube_state_metrics.py), it runs against the same
API server in the same run, restricted to the same resources and families with the same label and annotation
allowlists, the ratios are reported, and the two outputs are diffed series by series (bench/series_diff.py): the
bench fails on any difference that bench/ksm_known_differences.yaml does not explain, and on any family without
series. It runs once more with its defaults for reference.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from bench import cluster_objects, series_diff
from bench.procfs import cpu_s, vm_mib
from tests.peers import kube
from tests.peers.base import Peer, free_port

PODS, DEPLOYMENTS, NODES = 10_000, 1_000, 100
NAMESPACES = 20
SCRAPES = 30
CHURN_PER_S = 50
CHURN_MIN_SECONDS = 10.0
SYNC_POLL_SECONDS = 0.05
# Starts of each exporter timed to their sync only, after the full measurement (which is the first sync of each).
SYNC_ROUNDS = int(os.environ.get("OBSERVE_BENCH_CLUSTER_SYNC_ROUNDS", "6"))
# Label and annotation series for every resource, on both sides, so the _labels and _annotations families are compared.
ALLOWLISTS = ("--metric-labels-allowlist=*=[*]", "--metric-annotations-allowlist=*=[*]")


async def _client(peer: Peer) -> Any:
    from observe.config import KubeConfig
    from observe.kube import KubeClient

    return await KubeClient.from_config(KubeConfig(kubeconfig=Path(str(peer.extra["kubeconfig"]))))  # type: ignore[call-arg]


async def _load(peer: Peer) -> dict[str, int]:
    """Create the objects with 16 requests in flight, statuses patched as the controllers would."""
    import aiohttp

    client = await _client(peer)
    sem = asyncio.Semaphore(16)

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        async with sem:
            for attempt in range(5):
                try:
                    await client.request(method, path, body=body, seconds=60)
                    return
                except (aiohttp.ClientError, TimeoutError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5)

    try:
        return await cluster_objects.seed(call, namespaces=NAMESPACES, nodes=NODES, deployments=DEPLOYMENTS, pods=PODS)
    finally:
        await client.close()


class _Churn:
    """CHURN_PER_S pod status updates per second from a thread (restart counts go up), undone by restore()."""

    def __init__(self, peer: Peer, rate: int = CHURN_PER_S) -> None:
        self.peer, self.rate = peer, rate
        self.stop = threading.Event()
        self.touched: set[int] = set()
        self.updates = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> _Churn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        asyncio.run(self._restore())

    async def _run(self) -> None:
        client = await _client(self.peer)
        try:
            n, t0 = 0, time.monotonic()
            while not self.stop.is_set():
                i = 10 * ((n * 7919) % (PODS // 10)) + 5  # Running pods only, spread over namespaces
                await client.request("PATCH", f"/api/v1/namespaces/bench-{i % NAMESPACES}/pods/p{i}/status",
                                     body={"status": cluster_objects.pod_status(i, restarts=1 + n // 1000)})
                self.touched.add(i)
                n += 1
                self.updates = n
                await asyncio.sleep(max(0.0, t0 + n / self.rate - time.monotonic()))
        finally:
            await client.close()

    async def _restore(self) -> None:
        client = await _client(self.peer)
        try:
            for i in sorted(self.touched):
                await client.request("PATCH", f"/api/v1/namespaces/bench-{i % NAMESPACES}/pods/p{i}/status",
                                     body={"status": cluster_objects.pod_status(i)})
        finally:
            await client.close()


def _get(url: str, timeout: float = 60.0) -> bytes:
    req = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return bytes(r.read())


def _status_mib(pid: int, field: str) -> float:
    return round(vm_mib(pid, field), 1)


def pods_served(port: int, enough: int) -> int:
    """One sync probe: stream /metrics counting kube_pod_info series, stopping as soon as `enough` have been seen."""
    needle, seen, tail = b"\nkube_pod_info{", 0, b""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        if resp.status != 200:
            return 0
        while chunk := resp.read(1 << 16):
            data = tail + chunk
            seen += data.count(needle)
            tail = data[-(len(needle) - 1):]  # a needle cut in two by the chunk boundary is counted once
            if seen >= enough:
                break
        return seen
    except OSError:
        return 0
    finally:
        conn.close()


def _all_pods_served(port: int) -> bool:
    return pods_served(port, PODS) >= PODS


def _scrape_series(name: str, url: str, churn: _Churn | None, pid: int) -> dict[str, Any]:
    cpu0 = cpu_s(pid)
    latencies: list[float] = []
    t0 = time.monotonic()
    while len(latencies) < SCRAPES or (churn is not None and time.monotonic() - t0 < CHURN_MIN_SECONDS):
        t = time.monotonic()
        _get(url)
        latencies.append(time.monotonic() - t)
    cpu = (cpu_s(pid) - cpu0) / len(latencies)
    latencies.sort()
    return {"scrapes": len(latencies), "scrape_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "scrape_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
            "cpu_ms_per_scrape": round(cpu * 1000, 1)}


def _start(argv: list[str], peer: Peer, cpu: int | None = None) -> tuple[subprocess.Popen[bytes], float, float]:
    """The exporter process (pinned to one CPU when `cpu` is given), its start time and the API server's CPU seconds
    at that moment."""
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    api_cpu0 = cpu_s(peer.proc.pid)
    start = time.monotonic()
    return (subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin), start,
            api_cpu0)


def _sync(name: str, proc: subprocess.Popen[bytes], start: float, api_cpu0: float, port: int,
          peer: Peer) -> dict[str, Any]:
    """Probe until every pod is served: the sync's seconds, and where they went (the exporter's CPU, its serving
    of the probes included, and the API server's)."""
    polls = 0
    while True:
        probe = time.monotonic()
        polls += 1
        if _all_pods_served(port):
            break
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        if probe - start > 600:
            raise RuntimeError(f"{name} did not sync in 600 s")
        time.sleep(max(0.0, probe + SYNC_POLL_SECONDS - time.monotonic()))
    sync = probe - start  # the probe that found every pod started here
    return {"sync_seconds": round(sync, 2), "sync_probes": polls, "sync_cpu_s": round(cpu_s(proc.pid), 2),
            "apiserver_cpu_s_during_sync": round(cpu_s(peer.proc.pid) - api_cpu0, 2)}


def sync_only(name: str, argv: list[str], port: int, peer: Peer, cpu: int | None = None) -> dict[str, Any]:
    """One more start of an exporter, timed to its sync, then stopped; pinned to one CPU when `cpu` is given."""
    proc, start, api_cpu0 = _start(argv, peer, cpu)
    try:
        return _sync(name, proc, start, api_cpu0, port, peer)
    finally:
        proc.terminate()
        proc.wait(20)


def _measure(name: str, argv: list[str], port: int, peer: Peer) -> tuple[dict[str, Any], bytes]:
    """Sync time, scrapes idle and under churn, memory and CPU; and the body right after sync for the diff."""
    url = f"http://127.0.0.1:{port}/metrics"
    proc, start, api_cpu0 = _start(argv, peer)
    try:
        sync = _sync(name, proc, start, api_cpu0, port, peer)
        body = _get(url)
        series = sum(1 for line in body.split(b"\n") if line.startswith(b"kube_"))
        rss_sync = _status_mib(proc.pid, "VmRSS")
        idle = _scrape_series(name, url, None, proc.pid)
        with _Churn(peer) as churn:
            busy = _scrape_series(name, url, churn, proc.pid)
        busy["pod_updates"] = churn.updates
        return {**sync, "sync_probe_interval_s": SYNC_POLL_SECONDS,
                "kube_series": series, "bytes": len(body), **idle,
                "rss_mib": max(rss_sync, _status_mib(proc.pid, "VmRSS")), "rss_after_sync_mib": rss_sync,
                "peak_rss_mib": _status_mib(proc.pid, "VmHWM"), f"under_{CHURN_PER_S}_pod_updates_per_s": busy}, body
    finally:
        proc.terminate()
        proc.wait(20)


def ksm_binary() -> Path | None:
    """The cached kube-state-metrics binary, or None when it has not been built."""
    try:
        from tests.peers import kube_state_metrics
    except ImportError:
        return None
    path = kube_state_metrics.binary_if_built()
    return Path(path) if path else None


def ksm_argv(ksm: Path, peer: Peer, port: int, *extra: str) -> list[str]:
    """kube-state-metrics against the peer's API server, serving /metrics on `port` (telemetry on a free port)."""
    return [str(ksm), f"--kubeconfig={peer.extra['kubeconfig']}", "--host=127.0.0.1", f"--port={port}",
            "--telemetry-host=127.0.0.1", f"--telemetry-port={free_port()}", *extra]


def _ksm(ksm: Path, peer: Peer, *extra: str) -> tuple[dict[str, Any], bytes]:
    kport = free_port()
    return _measure("kube-state-metrics", ksm_argv(ksm, peer, kport, *extra), kport, peer)


def _fold_syncs(side: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """The sync figures of one exporter become the medians of its starts; every start is kept under sync_runs."""
    for key in ("sync_seconds", "sync_cpu_s", "apiserver_cpu_s_during_sync"):
        side[key] = round(statistics.median(r[key] for r in runs), 2)
    side["sync_runs"] = [{k: r[k] for k in ("sync_seconds", "sync_cpu_s", "apiserver_cpu_s_during_sync")}
                         for r in runs]


def _one_core(peer: Peer, ours: Callable[[int], list[str]], theirs: Callable[[int], list[str]]) -> dict[str, Any]:
    """The sync again with each exporter pinned to the same one CPU (the API server is not pinned), alternating who
    goes first: how much of the gap is Go's second core and how much is CPU. Go sizes GOMAXPROCS from the affinity
    mask, so kube-state-metrics runs with one P. With it, the floor our start-up cannot go under: a fresh
    interpreter importing only the third-party modules the exporter loads (bench/bench_shipper_idle.py)."""
    from bench.bench_shipper_idle import library_floor

    cpu = max(os.sched_getaffinity(0))
    runs: dict[str, list[dict[str, Any]]] = {"observe": [], "kube_state_metrics": []}
    for rnd in range(SYNC_ROUNDS):
        for name in (("observe", "kube_state_metrics") if rnd % 2 else ("kube_state_metrics", "observe")):
            port = free_port()
            runs[name].append(sync_only(name, (ours if name == "observe" else theirs)(port), port, peer, cpu))
    out: dict[str, Any] = {"cpu": cpu}
    for name, side in runs.items():
        out[name] = {}
        _fold_syncs(out[name], side)
    out["ratio_observe_over_ksm"] = round(out["observe"]["sync_seconds"]
                                          / out["kube_state_metrics"]["sync_seconds"], 2)
    floors = [library_floor(_EXPORTER_MODULES) for _ in range(3)]
    out["observe_library_floor_cpu_s"] = statistics.median(f["cpu_s"] for f in floors)
    out["observe_library_floor_packages"] = floors[0]["packages"]
    return out


# Our modules `observe export cluster` loads by the time it lists; library_floor imports their third-party modules.
_EXPORTER_MODULES = ("observe.app.cli, exporters.cli, exporters.cluster.service, observe.service, "
                     "observe.kube.protobuf, observe.kube.listpage")


def _diff(ours: bytes, theirs: bytes) -> dict[str, Any]:
    """Series by series; raises when a difference is not in bench/ksm_known_differences.yaml or a family is empty."""
    from exporters.cluster.kinds import all_families

    report = series_diff.compare(series_diff.series(ours, "kube_"), series_diff.series(theirs, "kube_"),
                                 series_diff.load_rules(), families=[f.name for _, f in all_families()])
    summary = report.summary()
    if not report.ok:
        raise AssertionError("observe and kube-state-metrics differ beyond the known differences:\n"
                             + json.dumps(summary, indent=2))
    return summary


def run(results_dir: Path) -> dict[str, Any]:
    """Load the API server, measure our exporter (and kube-state-metrics when built), diff them, write the results."""
    from exporters.cluster.kinds import KINDS

    with tempfile.TemporaryDirectory() as tmp:
        peer = kube.start(Path(tmp) / "kube")
        try:
            t = time.monotonic()
            objects = asyncio.run(_load(peer))
            load_s = time.monotonic() - t
            def our_argv(port: int) -> list[str]:
                return [str(Path(sys.executable).parent / "observe"), "export", "cluster", "--kubeconfig",
                        str(peer.extra["kubeconfig"]), "--port", str(port), *ALLOWLISTS]

            port = free_port()
            ours, our_body = _measure("observe", our_argv(port), port, peer)
            result: dict[str, Any] = {"objects": objects, "load_seconds": round(load_s, 1), "observe": ours}
            ksm = ksm_binary()
            if ksm is None:
                result["kube_state_metrics"] = "not built (python -m tests.peers install kube_state_metrics)"
            else:
                # Like for like: the same resources and the same families as ours.
                # KSM's allowlist entries are regular expressions: anchored, or kube_pod_status_ready would also
                # let kube_pod_status_ready_time through.
                families = ",".join(f"^{f.name}$" for k in KINDS.values() for f in k.families)
                like_ours = (f"--resources={','.join(KINDS)}", f"--metric-allowlist={families}", *ALLOWLISTS)
                theirs, their_body = _ksm(ksm, peer, *like_ours)
                # One sync per process start is one sample of a 1-3 s event on a shared machine (about one run
                # in three came out twice as slow): more starts of each, alternating who goes first, and medians.
                syncs: dict[str, list[dict[str, Any]]] = {"observe": [ours], "kube-state-metrics": [theirs]}
                for rnd in range(SYNC_ROUNDS):
                    for name in (("observe", "kube-state-metrics") if rnd % 2 else ("kube-state-metrics", "observe")):
                        port = free_port()
                        argv = our_argv(port) if name == "observe" else ksm_argv(ksm, peer, port, *like_ours)
                        syncs[name].append(sync_only(name, argv, port, peer))
                _fold_syncs(ours, syncs["observe"])
                _fold_syncs(theirs, syncs["kube-state-metrics"])
                result["one_core"] = _one_core(peer, our_argv, lambda port: ksm_argv(ksm, peer, port, *like_ours))
                result["kube_state_metrics"] = theirs
                result["ratios_observe_over_ksm"] = {
                    k: round(ours[k] / theirs[k], 2) for k in (
                        "scrape_p50_ms", "scrape_p99_ms", "rss_mib", "peak_rss_mib", "cpu_ms_per_scrape",
                        "sync_seconds") if theirs.get(k)}
                busy = f"under_{CHURN_PER_S}_pod_updates_per_s"
                result["ratios_observe_over_ksm"][busy] = {
                    k: round(ours[busy][k] / theirs[busy][k], 2) for k in ("scrape_p50_ms", "scrape_p99_ms",
                                                                           "cpu_ms_per_scrape") if theirs[busy].get(k)}
                result["series_diff"] = _diff(our_body, their_body)
                # For reference: kube-state-metrics as usually deployed (all its resources and families).
                result["kube_state_metrics_defaults"] = _ksm(ksm, peer)[0]
        finally:
            kube.stop(peer)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "cluster_exporter.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(run(Path(__file__).parent / "results"), indent=2))
