"""Idle RSS, peak RSS and start-up + shutdown CPU of `observe ship` as a process (issue 18).

`observe ship` runs with the null sink (the Kubernetes part off, no OTLP endpoint) on one small CRI file, until
/readyz answers and the file's lines are counted as delivered on /metrics; then it sits idle for IDLE_S seconds,
VmRSS is read (idle), and SIGTERM ends it. VmHWM is the peak. CPU is utime + stime of the whole process from
/proc/<pid>/stat: start-up is up to the delivery, idle the IDLE_S seconds after, shutdown from SIGTERM to the last
reading before the process is reaped; `startup_shutdown_cpu_s` leaves the idle seconds out. The median of ROUNDS runs is reported
with each run's figures. `import_cli_cpu_s` is `python -c 'import observe.app.cli'` alone (the CLI's import cost).

Run: `python -m bench shipper_idle`.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.procfs import cpu_s, vm_mib

ROUNDS = int(os.environ.get("OBSERVE_BENCH_SHIPPER_ROUNDS", "7"))
IDLE_S = float(os.environ.get("OBSERVE_BENCH_SHIPPER_IDLE_S", "2"))
LINES = 100


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except OSError:
        return 0, b""


def _delivered(metrics: bytes) -> float:
    for line in metrics.decode().splitlines():
        if line.startswith("observe_shipper_events_acked_total") and 'outcome="delivered"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _config(folder: Path, port: int) -> Path:
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    line = "2026-01-01T00:00:00.000000000Z stdout F " + "x" * 160 + "\n"
    (logs / "app_ns_c-0123456789abcdef.log").write_text(line * LINES)
    config = {"service": {"host": "127.0.0.1", "port": port},
              "logs": {"paths": [str(logs / "*.log")], "sink": "null", "checkpoint_path": str(folder / "checkpoint.json"),
                       "kubernetes": {"enabled": "off"}}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def one_run(folder: Path, command: list[str] | None = None, pythonpath: str | None = None) -> dict[str, float]:
    """Start `observe ship`, wait until the file is delivered, idle, SIGTERM; figures in MiB and CPU-s.

    `command` replaces the `observe` script and `pythonpath` is put first on the path (an A/B run against another
    checkout of the tree, e.g. `git archive` of main).
    """
    from tests.peers.base import free_port

    port = free_port()
    config = _config(folder, port)
    exe = str(Path(sys.executable).parent / "observe")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    log = (folder / "ship.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([*(command or [exe]), "ship", "--config", str(config)], stdout=log, stderr=log,
                            env=env, cwd=folder)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready_s = None
        while time.monotonic() < deadline:
            if ready_s is None and _get(base + "/readyz")[0] == 200:
                ready_s = time.monotonic() - t0
            if ready_s is not None and _delivered(_get(base + "/metrics")[1]) >= LINES:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"observe ship did not deliver {LINES} lines in 60 s; see {folder / 'ship.log'}")
        startup_cpu = cpu_s(proc.pid)
        time.sleep(IDLE_S)
        idle = vm_mib(proc.pid, "VmRSS")
        peak = vm_mib(proc.pid, "VmHWM")
        idle_cpu = cpu_s(proc.pid) - startup_cpu
        proc.send_signal(signal.SIGTERM)
        cpu = startup_cpu
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
    return {"rss_idle_mib": round(idle, 1), "rss_peak_mib": round(peak, 1), "startup_cpu_s": round(startup_cpu, 3),
            "idle_cpu_s": round(idle_cpu, 3),
            "shutdown_cpu_s": round(cpu - startup_cpu - idle_cpu, 3),
            "startup_shutdown_cpu_s": round(cpu - idle_cpu, 3), "ready_wall_s": round(ready_s or 0.0, 3)}


def _import_s() -> float:
    t0 = os.times()
    subprocess.run([sys.executable, "-c", "import observe.app.cli"], check=True)
    t1 = os.times()
    return (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)


def run(results_dir: Path) -> dict[str, Any]:
    """ROUNDS runs of `observe ship` with the null sink; medians and every run."""
    runs = []
    imports = []
    for i in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="observe-bench-ship-") as tmp:
            runs.append(one_run(Path(tmp) / str(i)))
        imports.append(_import_s())
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    return {"median": {**median, "import_cli_cpu_s": round(statistics.median(imports), 3)},
            "goal": {"rss_idle_mib": 30, "startup_shutdown_cpu_s": 0.2},
            "rounds": ROUNDS, "idle_s": IDLE_S, "lines": LINES, "sink": "null", "kubernetes": "off", "otlp": "unset",
            "runs": {str(i): r for i, r in enumerate(runs)}}


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
