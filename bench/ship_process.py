"""`observe ship` as a process of its own, null sink, measured from outside through /proc and its /metrics.

`run_ship` starts it on files already written under `folder/logs`, waits until `events` events are counted as
delivered, optionally idles, sends SIGTERM and reads utime + stime until the process is reaped. The shipper is
polled on /readyz every 50 ms until ready, then on /metrics every `poll_s` (each scrape costs it about a
millisecond of CPU, so a long run polls slowly).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.procfs import cpu_s, vm_mib


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except OSError:
        return 0, b""


def delivered(metrics: bytes) -> float:
    """observe_shipper_events_acked_total{outcome="delivered"} from a /metrics body."""
    for line in metrics.decode().splitlines():
        if line.startswith("observe_shipper_events_acked_total") and 'outcome="delivered"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def link_corpus(folder: Path, corpus: Path) -> None:
    """Make `folder/logs` hold `corpus` under a kubelet-shaped name: a hard link, so every run reads the same
    cached pages."""
    (folder / "logs").mkdir(parents=True)
    os.link(corpus, folder / "logs" / "web-0_bench_app-0123456789abcdef.log")


def write_config(folder: Path, port: int, logs: dict[str, Any] | None = None) -> Path:
    """A config for the null sink over folder/logs/*.log, Kubernetes off; `logs` adds or overrides logs.* keys."""
    config = {"service": {"host": "127.0.0.1", "port": port},
              "logs": {"paths": [str(folder / "logs" / "*.log")], "sink": "null",
                       "checkpoint_path": str(folder / "checkpoint.json"), "kubernetes": {"enabled": "off"},
                       **(logs or {})}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_ship(folder: Path, events: int, logs: dict[str, Any] | None = None, idle_s: float = 0.0,
             poll_s: float = 0.05, timeout_s: float = 600.0, command: list[str] | None = None,
             pythonpath: str | None = None, on_start: Callable[[int], None] | None = None) -> dict[str, float]:
    """Run `observe ship` until `events` are delivered; CPU seconds and MiB, start-up to exit.

    `command` replaces the `observe` script and `pythonpath` is put first on the path (an A/B run against another
    checkout of the tree, e.g. `git archive` of main). `on_start` is called with the pid right after the start
    (to attach a profiler).
    """
    from tests.peers.base import free_port

    port = free_port()
    config = write_config(folder, port, logs)
    exe = str(Path(sys.executable).parent / "observe")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    log = (folder / "ship.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([*(command or [exe]), "ship", "--config", str(config)], stdout=log, stderr=log,
                            env=env, cwd=folder)
    if on_start is not None:
        on_start(proc.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        ready_s = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"observe ship exited {proc.returncode} early; see {folder / 'ship.log'}")
            if ready_s is None:
                if _get(base + "/readyz")[0] == 200:
                    ready_s = time.monotonic() - t0
                    continue
                time.sleep(0.05)
                continue
            if delivered(_get(base + "/metrics")[1]) >= events:
                break
            time.sleep(poll_s)
        else:
            raise RuntimeError(f"observe ship did not deliver {events} events in {timeout_s} s; see {folder / 'ship.log'}")
        done_wall = time.monotonic() - t0
        done_cpu = cpu_s(proc.pid)
        time.sleep(idle_s)
        idle = vm_mib(proc.pid, "VmRSS")
        peak = vm_mib(proc.pid, "VmHWM")
        idle_cpu = cpu_s(proc.pid) - done_cpu
        proc.send_signal(signal.SIGTERM)
        cpu = done_cpu + idle_cpu
        while proc.poll() is None:  # the last reading before the process is reaped
            try:
                cpu = cpu_s(proc.pid)
                peak = max(peak, vm_mib(proc.pid, "VmHWM"))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                break
            time.sleep(0.005)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    if code != 0:
        raise RuntimeError(f"observe ship exited {code} on SIGTERM; see {folder / 'ship.log'}")
    return {"done_cpu_s": round(done_cpu, 3), "idle_cpu_s": round(idle_cpu, 3),
            "shutdown_cpu_s": round(cpu - done_cpu - idle_cpu, 3), "cpu_s": round(cpu - idle_cpu, 3),
            "rss_idle_mib": round(idle, 1), "rss_peak_mib": round(peak, 1), "ready_wall_s": round(ready_s or 0.0, 3),
            "done_wall_s": round(done_wall, 3)}
