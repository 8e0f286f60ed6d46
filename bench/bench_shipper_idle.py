"""Idle RSS, peak RSS and start-up + shutdown CPU of `observe ship` as a process (issue 18).

`observe ship` runs with the null sink (the Kubernetes part off, no OTLP endpoint) on one small CRI file, until
/readyz answers and the file's lines are counted as delivered on /metrics; then it sits idle for IDLE_S seconds,
VmRSS is read (idle), and SIGTERM ends it. VmHWM is the peak. CPU is utime + stime of the whole process from
/proc/<pid>/stat: start-up is up to the delivery, idle the IDLE_S seconds after, shutdown from SIGTERM to the last
reading before the process is reaped; `startup_shutdown_cpu_s` leaves the idle seconds out. The median of ROUNDS runs is reported
with each run's figures. `import_cli_cpu_s` is `python -c 'import observe.app.cli'` alone (the CLI's import cost).
`library_floor` is a fresh interpreter importing exactly the third-party modules `observe ship` loads and nothing
of ours (medians over the same rounds): what these libraries cost before the shipper does anything.

Run: `python -m bench shipper_idle`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.ship_process import run_ship

ROUNDS = int(os.environ.get("OBSERVE_BENCH_SHIPPER_ROUNDS", "7"))
IDLE_S = float(os.environ.get("OBSERVE_BENCH_SHIPPER_IDLE_S", "2"))
LINES = 100


def one_run(folder: Path, command: list[str] | None = None, pythonpath: str | None = None) -> dict[str, float]:
    """Start `observe ship` on LINES lines, wait until they are delivered, idle, SIGTERM; figures in MiB and CPU-s.

    `command` replaces the `observe` script and `pythonpath` is put first on the path (an A/B run against another
    checkout of the tree, e.g. `git archive` of main).
    """
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    line = "2026-01-01T00:00:00.000000000Z stdout F " + "x" * 160 + "\n"
    (logs / "app_ns_c-0123456789abcdef.log").write_text(line * LINES)
    r = run_ship(folder, LINES, idle_s=IDLE_S, command=command, pythonpath=pythonpath)
    return {"rss_idle_mib": r["rss_idle_mib"], "rss_peak_mib": r["rss_peak_mib"], "startup_cpu_s": r["done_cpu_s"],
            "idle_cpu_s": r["idle_cpu_s"], "shutdown_cpu_s": r["shutdown_cpu_s"],
            "startup_shutdown_cpu_s": r["cpu_s"], "ready_wall_s": r["ready_wall_s"]}


def _import_s() -> float:
    t0 = os.times()
    subprocess.run([sys.executable, "-c", "import observe.app.cli"], check=True)
    t1 = os.times()
    return (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)


# The modules a command loads (e.g. `observe ship`: its CLI and its service) that are neither the standard library's
# nor ours; the command's own modules are named in place of {modules}.
_THIRD_PARTY = """
import sys, {modules}
skip = ("observe", "exporters", "_", "cython_runtime")  # ours, and the interpreter's own (__main__, _cython_*, ...)
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] not in sys.stdlib_module_names
                      and not m.startswith(skip))))
"""
# A fresh interpreter that imports exactly those and nothing of ours, prints its VmRSS in KiB and leaves without
# tearing the modules down (as the shipper does, observe.service.exit_process).
_FLOOR = """
import importlib, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:")), flush=True)
os._exit(0)
"""


def library_floor(modules: str = "observe.app.cli, observe.logs.service") -> dict[str, Any]:
    """What the third-party modules of a command (by default the shipper's) alone cost: CPU s (interpreter start
    included) and RSS of a fresh interpreter importing them, so the start-up and idle figures have a same-run floor
    the command cannot go under with these libraries. `modules`: the command's own modules, comma-separated."""
    names = subprocess.run([sys.executable, "-c", _THIRD_PARTY.replace("{modules}", modules)], check=True,
                           capture_output=True, text=True).stdout.split()
    t0 = os.times()
    kib = subprocess.run([sys.executable, "-c", _FLOOR, *names], check=True, capture_output=True, text=True).stdout
    t1 = os.times()
    return {"cpu_s": round((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system), 3),
            "rss_mib": round(int(kib) / 1024, 1), "packages": sorted({n.split(".")[0] for n in names})}


def run(results_dir: Path) -> dict[str, Any]:
    """ROUNDS runs of `observe ship` with the null sink; medians and every run."""
    runs = []
    imports = []
    floors = []
    for i in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="observe-bench-ship-") as tmp:
            runs.append(one_run(Path(tmp) / str(i)))
        imports.append(_import_s())
        floors.append(library_floor())
    median = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    floor = {k: round(statistics.median(f[k] for f in floors), 3) for k in ("cpu_s", "rss_mib")}
    return {"median": {**median, "import_cli_cpu_s": round(statistics.median(imports), 3)},
            "library_floor": {**floor, "packages": floors[0]["packages"],
                              "startup_shutdown_over_floor": round(median["startup_shutdown_cpu_s"] / floor["cpu_s"], 2),
                              "rss_idle_over_floor": round(median["rss_idle_mib"] / floor["rss_mib"], 2)},
            "goal": {"rss_idle_mib": 30, "startup_shutdown_cpu_s": 0.2},
            "rounds": ROUNDS, "idle_s": IDLE_S, "lines": LINES, "sink": "null", "kubernetes": "off", "otlp": "unset",
            "runs": {str(i): r for i, r in enumerate(runs)}}


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
