"""Memory and CPU of the probe and Elasticsearch exporters as processes, for the chart's resource defaults.

- probe: `observe export probe` with discovery against the real kube-apiserver (a few annotated Services),
  then PROBES sequential /probe requests to the real Elasticsearch node (its /_cluster/health; this core node
  answers 405 to GET /) and a /metrics scrape after every tenth.
- elasticsearch: `observe export elasticsearch` against the real Elasticsearch node, stats every 5 s, for
  ES_WINDOW_S seconds with a /metrics scrape every second.

RSS is read from /proc (VmRSS when ready and idle, VmHWM at the end), CPU from /proc/<pid>/stat.
Run: `python -m bench exporters_idle`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.procfs import cpu_s, vm_mib

PROBES = int(os.environ.get("OBSERVE_BENCH_PROBES", "300"))
ES_WINDOW_S = int(os.environ.get("OBSERVE_BENCH_ES_WINDOW_S", "60"))


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _start(folder: Path, name: str, args: list[str], config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    from tests.peers.base import free_port

    port = free_port()
    config = {**config, "service": {"host": "127.0.0.1", "port": port}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    exe = str(Path(sys.executable).parent / "observe")
    log = (folder / f"{name}.log").open("wb")
    proc = subprocess.Popen([exe, "export", *args, "--config", str(path)], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _get(base + "/readyz")[0] == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{name} exporter not ready in 60 s; see {folder / (name + '.log')}")


def _probe(folder: Path, es_url: str, kube: Any) -> dict[str, Any]:
    from tests.peers import kube as kube_peer

    ns = kube_peer.create_namespace(kube, "bench")
    for i in range(5):
        kube_peer.kube_request(kube, "POST", f"/api/v1/namespaces/{ns}/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"web-{i}", "annotations": {"observe.io/probe": "true"}},
            "spec": {"ports": [{"port": 8080}]}})
    config = {"kube": {"kubeconfig": kube.extra["kubeconfig"]},
              "exporters": {"probe": {"allow_cidrs": ["127.0.0.0/8"], "discovery": True,
                                      "allow_ports": [int(es_url.rsplit(":", 1)[1].split("/", 1)[0])]}}}
    proc, base = _start(folder, "probe", ["probe"], config)
    try:
        time.sleep(10)
        idle = vm_mib(proc.pid, "VmRSS")
        targets = _get(base + "/targets")[1].count(b'"targets"')
        c0 = cpu_s(proc.pid)
        ok = 0
        failure = ""
        for i in range(PROBES):
            status, body = _get(f"{base}/probe?target={es_url}/_cluster/health&module=http_2xx")
            if status == 200 and b"probe_success 1" in body:
                ok += 1
            elif not failure:
                lines = body.decode(errors="replace").splitlines()
                failure = f"{status}: " + " ".join(x for x in lines if not x.startswith("#"))[:400]
            if i % 10 == 0:
                _get(base + "/metrics")
        cpu = cpu_s(proc.pid) - c0
        return {"rss_idle_mib": round(idle, 1), "rss_peak_mib": round(vm_mib(proc.pid, "VmHWM"), 1),
                "cpu_ms_per_probe": round(cpu / PROBES * 1000, 2), "probes": PROBES, "probes_ok": ok, "first_failure": failure,
                "discovered_target_groups": targets}
    finally:
        proc.kill()
        proc.wait()


def _elasticsearch(folder: Path, es_url: str) -> dict[str, Any]:
    config = {"elasticsearch": {"url": es_url}, "exporters": {"elasticsearch": {"interval_seconds": 5}}}
    proc, base = _start(folder, "es", ["elasticsearch"], config)
    try:
        time.sleep(10)
        idle = vm_mib(proc.pid, "VmRSS")
        c0, t0 = cpu_s(proc.pid), time.monotonic()
        scrapes = 0
        size = 0
        while time.monotonic() - t0 < ES_WINDOW_S:
            status, body = _get(base + "/metrics")
            scrapes += status == 200
            size = len(body)
            time.sleep(1)
        cpu = cpu_s(proc.pid) - c0
        wall = time.monotonic() - t0
        return {"rss_idle_mib": round(idle, 1), "rss_peak_mib": round(vm_mib(proc.pid, "VmHWM"), 1),
                "cpu_millicores": round(cpu / wall * 1000, 1), "interval_seconds": 5, "scrapes": scrapes,
                "metrics_bytes": size, "window_s": round(wall)}
    finally:
        proc.kill()
        proc.wait()


def run(results_dir: Path) -> dict[str, Any]:
    """Both exporters against the real Elasticsearch node (and the real kube-apiserver for discovery)."""
    from tests.peers import elasticsearch as es_peer
    from tests.peers import kube as kube_peer

    folder = Path(tempfile.mkdtemp(prefix="observe-bench-exporters-"))
    es_peer.install()
    kube_peer.install()
    es = es_peer.start(folder / "es")
    try:
        kube = kube_peer.start(folder / "kube")
        try:
            probe = _probe(folder, es.url, kube)
        finally:
            kube_peer.stop(kube)
        elasticsearch = _elasticsearch(folder, es.url)
    finally:
        es.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {"probe": probe, "elasticsearch": elasticsearch,
            "elasticsearch_node": f"Elasticsearch {es_peer.VERSION}, one node", "kube_apiserver": kube_peer.VERSION}
